"""The keystroke path: which request generates, waits, is answered from the cache or is dropped,
and the background work between keys. Plain asyncio over strings; imports prompt/,
postprocess/ and settings, never an engine implementation, model files or pygls."""
