"""The local engine: llama.cpp in a supervised worker process (supervisor.py), the worker and
its runner, KV reuse, sampling, vocabulary facts and hardware speed. Imports prompt/ and
postprocess/; never engines/remote/."""
