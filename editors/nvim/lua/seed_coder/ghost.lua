-- Ghost text: one extmark in namespace "seed_coder" at the cursor. The first line of the
-- suggestion is inline virtual text (virt_text_pos = 'inline'), the other lines are virt_lines.
local api = vim.api
local M = {}

M.ns = api.nvim_create_namespace('seed_coder')
M.hl = 'SeedCoderGhost'

function M.define_hl()
  api.nvim_set_hl(0, M.hl, { link = 'Comment', default = true })
end

local function expand_tabs(s, bufnr)
  if not s:find('\t', 1, true) then
    return s
  end
  local ts = vim.bo[bufnr].tabstop
  return (s:gsub('\t', string.rep(' ', ts > 0 and ts or 8)))
end

--- The text to draw. When the server's range covers text after the cursor on the same line
--- (e.g. an auto-closed ")") and a one-line suggestion ends with exactly that text, the covered
--- tail is left out of the ghost so the line reads as it will after accepting. Otherwise the
--- whole suggestion is drawn and nothing in the buffer is hidden.
---@param s table suggestion (see inline.lua)
---@return string
function M.display_text(s)
  local text = s.text
  if s.end_row == s.row and s.end_col > s.col and not text:find('\n', 1, true) then
    local line = api.nvim_buf_get_lines(s.bufnr, s.row, s.row + 1, false)[1] or ''
    local covered = line:sub(s.col + 1, s.end_col)
    if covered ~= '' and #text > #covered and text:sub(-#covered) == covered then
      return text:sub(1, #text - #covered)
    end
  end
  return text
end

---@param s table suggestion: { bufnr, row, col, text, end_row, end_col }
function M.show(s)
  M.clear(s.bufnr)
  local lines = vim.split(M.display_text(s), '\n', { plain = true })
  local opts = {
    virt_text = { { expand_tabs(lines[1], s.bufnr), M.hl } },
    virt_text_pos = 'inline',
    hl_mode = 'combine',
    priority = 1000,
  }
  if #lines > 1 then
    local vl = {}
    for i = 2, #lines do
      vl[#vl + 1] = { { expand_tabs(lines[i], s.bufnr), M.hl } }
    end
    opts.virt_lines = vl
  end
  pcall(api.nvim_buf_set_extmark, s.bufnr, M.ns, s.row, s.col, opts)
end

---@param bufnr? integer
function M.clear(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  if api.nvim_buf_is_valid(bufnr) then
    api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
end

return M
