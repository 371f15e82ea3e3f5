"""Drive the scheduler's OpenAI-compatible front door with the official openai client.

Usage: python3 scheduler_openai_client.py BASE_URL
Prints one JSON object: the non-streaming answer, the streamed text and usage, and the error a bad request raised.
"""
import json
import sys

import openai


def main() -> None:
    base_url = sys.argv[1]
    client = openai.OpenAI(base_url=base_url + "/v1", api_key="not-needed", max_retries=0, timeout=120)
    headers = {"X-Tenant-ID": "python", "X-Request-Class": "interactive", "X-Deadline-Ms": "60000", "X-Priority": "7"}

    plain = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say hello in five words."}],
        max_tokens=32,
        extra_headers=headers,
    )

    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Count from one to ten."}],
        max_tokens=48,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=headers,
    )
    streamed_text = ""
    chunks = 0
    usage = None
    for chunk in stream:
        chunks += 1
        if chunk.choices and chunk.choices[0].delta.content:
            streamed_text += chunk.choices[0].delta.content
        if chunk.usage is not None:
            usage = chunk.usage.model_dump()

    bad_request = None
    try:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "x"}],
            max_tokens=8,
            extra_headers={"X-Deadline-Ms": "-5"},
        )
    except openai.BadRequestError as error:
        bad_request = {"status": error.status_code, "param": (error.body or {}).get("param")}

    print(json.dumps({
        "plain_text": plain.choices[0].message.content,
        "plain_usage": plain.usage.model_dump() if plain.usage else None,
        "streamed_text": streamed_text,
        "stream_chunks": chunks,
        "stream_usage": usage,
        "bad_request": bad_request,
    }))


if __name__ == "__main__":
    main()
