"""The Completion API: OpenAI-, Anthropic- and Google-compatible routes under /{family}/{region}/.

``family`` holds what the three share (model catalogue, the reply pipeline with scripted replies,
tool calls, structured output, token accounting against the shared limiter); each provider's
operations, JSON bodies and stream frames live in modules named after it; ``registry`` registers
each reply format with the SSE renderer.
"""
