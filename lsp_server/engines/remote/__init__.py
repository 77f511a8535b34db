"""The remote engine: a llama-server or OpenAI-compatible server (client.py), its API dialects,
token-exact prompts through the server's tokenizer and streaming. Imports prompt/ and
postprocess/; never engines/local/."""
