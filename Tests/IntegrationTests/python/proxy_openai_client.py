"""Drives maitre-proxy with the official `openai` client: chat, streaming chat and (optionally) embeddings.

Usage: proxy_openai_client.py BASE_URL API_KEY [EMBEDDING_MODEL]
Prints one JSON object with what each call returned; exits non-zero on any failure.
"""
import json
import sys

import openai


def main() -> int:
    base_url, api_key = sys.argv[1], sys.argv[2]
    embedding_model = sys.argv[3] if len(sys.argv) > 3 else None
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=30)
    result = {}

    chat = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Name three colours."}],
        max_tokens=12,
    )
    result["chat"] = {
        "content": chat.choices[0].message.content,
        "finish_reason": chat.choices[0].finish_reason,
        "completion_tokens": chat.usage.completion_tokens if chat.usage else None,
    }

    pieces = []
    chunks = 0
    for chunk in client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Count to five."}],
        max_tokens=12,
        stream=True,
    ):
        chunks += 1
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    result["stream"] = {"chunks": chunks, "content": "".join(pieces)}

    if embedding_model:
        embedding = client.embeddings.create(model=embedding_model, input=["the proxy forwards embeddings", "second"])
        result["embeddings"] = {"count": len(embedding.data), "dimension": len(embedding.data[0].embedding)}

    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        result["unknown_model"] = "accepted"
    except openai.NotFoundError as error:
        result["unknown_model"] = error.status_code

    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
