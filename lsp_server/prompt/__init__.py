"""Prompt building: FIM templates, the context window, token-exact assembly and context from
other files. Plain data in, plain data out; imports neither engines nor pygls."""
