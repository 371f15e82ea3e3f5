"""The official openai client against maitre in front of a real model server: a chat and a stream through the proxy
and through the scheduler's front door, each sending maitre's own headers (which must stop at maitre's edge).
Prints one JSON line. Usage: real_server_openai_client.py PROXY_BASE_URL FRONT_DOOR_BASE_URL"""
import json
import sys

from openai import OpenAI

MAITRE_HEADERS = {
    "X-Request-ID": "req_not_a_uuid",
    "X-Tenant-ID": "tenant-real",
    "X-Deadline-Ms": "600000",
    "X-Priority": "5",
    "X-Task-Type": "probe",
}


def exercise(base_url):
    client = OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=600)
    messages = [{"role": "user", "content": "Name one colour. Answer in one word."}]
    chat = client.chat.completions.create(
        model="smollm2", messages=messages, max_tokens=12, extra_headers=MAITRE_HEADERS
    )
    stream = client.chat.completions.create(
        model="smollm2", messages=messages, max_tokens=12, stream=True, extra_headers=MAITRE_HEADERS
    )
    chunks, content = 0, ""
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            chunks += 1
            content += chunk.choices[0].delta.content
    return {
        "chat": {
            "content": chat.choices[0].message.content,
            "completion_tokens": chat.usage.completion_tokens if chat.usage else None,
        },
        "stream": {"chunks": chunks, "content": content},
    }


print(json.dumps({"proxy": exercise(sys.argv[1]), "front_door": exercise(sys.argv[2])}))
