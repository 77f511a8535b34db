"""What lands in the buffer: the rules that turn a raw generation into a suggestion, and the
syntax checks that end a multi-line one. Plain data; imports neither engines nor pygls."""
