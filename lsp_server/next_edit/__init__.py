"""Next-edit suggestions with Zeta 2.1: the edit history kept from the editor's changes, the
region of the file the model sees, its prompt byte for byte as Zed builds it, the answer turned
into one edit, and the predictor that runs it (single flight, newest wins, completions first).
Plain data and asyncio; imports prompt/ and postprocess/, never an engine or pygls."""
