"""Repository context: an index of the workspace's definitions (built in the background) and
the definitions a cursor needs, resolved through imports. Plain data and files; imports neither
engines, the keystroke path nor pygls."""
