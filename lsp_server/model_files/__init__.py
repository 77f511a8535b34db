"""Model files: the registry, downloads through huggingface_hub, checking a GGUF before it is
loaded, and finding the file the settings name. Never imports lsp/ or keystroke/."""
