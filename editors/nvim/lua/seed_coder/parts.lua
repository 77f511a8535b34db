-- What accept-word and accept-line take from a suggestion (both Neovim paths use these).
local M = {}

--- Leading whitespace plus one word, or one run of punctuation, or only whitespace.
---@param text string
---@return string
function M.word(text)
  local w = text:match('^%s*[%w_\128-\255]+') or text:match('^%s*[^%w_\128-\255%s]+') or text:match('^%s+')
  return w or text
end

--- Up to and including the first newline.
---@param text string
---@return string
function M.line(text)
  local nl = text:find('\n', 1, true)
  return nl and text:sub(1, nl) or text
end

return M
