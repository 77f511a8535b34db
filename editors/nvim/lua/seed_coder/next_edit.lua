-- Next edits (Neovim 0.10+, both inline-completion paths): after a pause in editing, the server
-- is asked for the edit the user is likely to make next (`textDocument/copilotInlineEdit`, the
-- request GitHub Copilot's language server uses). The edit is drawn where it is: the text it
-- replaces highlighted, the new text as virtual text (virtual lines for more lines), and a hint
-- at the cursor when it is off screen. <Tab> jumps to it, <Tab> again applies it (one undo
-- step), <C-]> dismisses it; an inline completion at the cursor keeps those keys first.
local api = vim.api
local M = {}

M.ns = api.nvim_create_namespace('seed_coder_next_edit')
local REQUEST = 'textDocument/copilotInlineEdit'
local DID_SHOW = 'textDocument/didShowInlineEdit'

---@class seed_coder.NextEdit
---@field bufnr integer
---@field tick integer  changedtick it was computed for
---@field row integer   0-based start of the range it replaces
---@field col integer   byte column
---@field end_row integer
---@field end_col integer
---@field text string
---@field cursor? integer[] {row, byte col} (0-based) after applying
---@field command? table
---@field item table    the server's item

local state = {
  edit = nil, ---@type seed_coder.NextEdit|nil
  timer = nil,
  pending = nil, ---@type { client: table, id: integer }|nil
  attached = {},
  requests = 0,
}
M._state = state

function M.define_hl()
  api.nvim_set_hl(0, 'SeedCoderNextEditDelete', { link = 'DiffDelete', default = true })
  api.nvim_set_hl(0, 'SeedCoderNextEditAdd', { link = 'DiffAdd', default = true })
  api.nvim_set_hl(0, 'SeedCoderNextEditHint', { link = 'Comment', default = true })
end

local function client_of(bufnr)
  return require('seed_coder.lsp').get_client(bufnr)
end

local function supported(client)
  local caps = client and client.server_capabilities
  return caps and caps.experimental and caps.experimental.nextEdits ~= nil
end

local function request(...)
  return require('seed_coder.lsp').request(...)
end

local function notify(...)
  return require('seed_coder.lsp').notify(...)
end

--- Byte column of an LSP character offset on a buffer line.
local function byte_col(bufnr, row, character, encoding)
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local ok, col = pcall(vim.str_byteindex, line, encoding, character, false)
  if vim.fn.has('nvim-0.11') == 0 then
    ok, col = pcall(vim.lsp.util._str_byteindex_enc, line, character, encoding)
  end
  return ok and col or #line
end

--- A next edit is shown in the current buffer, for its current text.
function M.visible()
  local e = state.edit
  return e ~= nil
    and e.bufnr == api.nvim_get_current_buf()
    and api.nvim_buf_get_changedtick(e.bufnr) == e.tick
end

function M.clear()
  local e = state.edit
  state.edit = nil
  if e and api.nvim_buf_is_valid(e.bufnr) then
    api.nvim_buf_clear_namespace(e.bufnr, M.ns, 0, -1)
  end
end

local function stop_timer()
  if state.timer then
    state.timer:stop()
    state.timer:close()
    state.timer = nil
  end
end

local function cancel_pending()
  local p = state.pending
  state.pending = nil
  if p then
    pcall(function()
      if vim.fn.has('nvim-0.11') == 1 then
        p.client:cancel_request(p.id)
      else
        p.client.cancel_request(p.id)
      end
    end)
  end
end

--- Draws the edit: replaced text highlighted, new text as virtual text after it, and a hint
--- at the cursor's line when the edit is off screen.
local function draw(e)
  api.nvim_buf_clear_namespace(e.bufnr, M.ns, 0, -1)
  if e.end_row > e.row or e.end_col > e.col then
    pcall(api.nvim_buf_set_extmark, e.bufnr, M.ns, e.row, e.col, {
      end_row = e.end_row,
      end_col = e.end_col,
      hl_group = 'SeedCoderNextEditDelete',
      priority = 1100,
    })
  end
  local lines = vim.split(e.text, '\n', { plain = true })
  local opts = { virt_text_pos = 'inline', hl_mode = 'combine', priority = 1100 }
  opts.virt_text = { { lines[1], 'SeedCoderNextEditAdd' } }
  if #lines > 1 then
    local vl = {}
    for i = 2, #lines do
      vl[#vl + 1] = { { lines[i], 'SeedCoderNextEditAdd' } }
    end
    opts.virt_lines = vl
  end
  if e.text ~= '' then
    pcall(api.nvim_buf_set_extmark, e.bufnr, M.ns, e.end_row, e.end_col, opts)
  end
  local win = api.nvim_get_current_win()
  if api.nvim_win_get_buf(win) == e.bufnr then
    local top, bottom = vim.fn.line('w0', win) - 1, vim.fn.line('w$', win) - 1
    if e.row < top or e.row > bottom then
      local row = api.nvim_win_get_cursor(win)[1] - 1
      pcall(api.nvim_buf_set_extmark, e.bufnr, M.ns, row, 0, {
        virt_text = { { ('  ⇥ next edit at line %d (Tab)'):format(e.row + 1), 'SeedCoderNextEditHint' } },
        virt_text_pos = 'eol',
      })
    end
  end
end

--- (row, byte col) of an LSP position; the position after a final newline (one row past the
--- buffer's last line) becomes the end of the last line, as vim.lsp.util.apply_text_edits does.
local function point(bufnr, pos, enc)
  local count = api.nvim_buf_line_count(bufnr)
  if pos.line >= count then
    local last = api.nvim_buf_get_lines(bufnr, count - 1, count, false)[1] or ''
    return count - 1, #last, true
  end
  return pos.line, byte_col(bufnr, pos.line, pos.character, enc), false
end

local function show(bufnr, client, tick, item)
  local enc = client.offset_encoding or 'utf-16'
  local r = item.range
  local row, col, start_past = point(bufnr, r.start, enc)
  local end_row, end_col = point(bufnr, r['end'], enc)
  local text = item.text or ''
  if start_past and text ~= '' then
    text = '\n' .. text:gsub('\n$', '') -- inserted after the last line
  end
  local e = {
    bufnr = bufnr,
    tick = tick,
    row = row,
    col = col,
    end_row = end_row,
    end_col = end_col,
    text = text,
    command = item.command,
    item = item,
    encoding = enc,
  }
  state.edit = e
  draw(e)
  notify(client, DID_SHOW, { item = item })
end

--- Asks the server now for the next edit at the cursor of the current buffer.
function M.request()
  local bufnr = api.nvim_get_current_buf()
  local client = client_of(bufnr)
  if not supported(client) or not require('seed_coder').is_enabled() then
    return
  end
  cancel_pending()
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding or 'utf-16')
  params.textDocument.version = vim.lsp.util.buf_versions[bufnr]
  params.context = { triggerKind = 2 }
  state.requests = state.requests + 1
  local ok, id = request(client, REQUEST, params, function(err, result)
    state.pending = nil
    if err or type(result) ~= 'table' or type(result.edits) ~= 'table' or not result.edits[1] then
      return
    end
    if not api.nvim_buf_is_valid(bufnr) or api.nvim_buf_get_changedtick(bufnr) ~= tick then
      return -- typed on since: the edit is for an old text
    end
    show(bufnr, client, tick, result.edits[1])
  end, bufnr)
  if ok then
    state.pending = { client = client, id = id }
  end
end

local function schedule()
  stop_timer()
  local delay = require('seed_coder.config').options.next_edit_debounce_ms
  state.timer = vim.uv.new_timer()
  state.timer:start(delay, 0, vim.schedule_wrap(function()
    stop_timer()
    M.request()
  end))
end

local function cursor_at_edit(e)
  if e.jumped then
    return true -- the last <Tab> moved here (Normal mode may have clamped the column)
  end
  local row, col = unpack(api.nvim_win_get_cursor(0))
  row = row - 1
  if row < e.row or row > e.end_row then
    return false
  end
  return (row > e.row or col >= e.col) and (row < e.end_row or col <= e.end_col)
end

--- Applies the edit: one change (one undo step), the cursor where the server says (or after
--- the new text), and the server told (its history records an accepted prediction).
local function apply(e)
  M.clear()
  local lines = vim.split(e.text, '\n', { plain = true })
  api.nvim_buf_set_text(e.bufnr, e.row, e.col, e.end_row, e.end_col, lines)
  local row, col = e.row + #lines - 1, (#lines == 1 and e.col or 0) + #lines[#lines]
  if e.item.cursor and e.item.cursor.line < api.nvim_buf_line_count(e.bufnr) then
    row = e.item.cursor.line
    col = byte_col(e.bufnr, row, e.item.cursor.character, e.encoding)
  end
  pcall(api.nvim_win_set_cursor, 0, { row + 1, col })
  local client = client_of(e.bufnr)
  if client and e.command then
    request(client, 'workspace/executeCommand', {
      command = e.command.command,
      arguments = e.command.arguments,
    }, function() end, e.bufnr)
  end
end

--- <Tab> on a shown next edit: jump to it, or apply it when the cursor is there. False when
--- none is shown (the key then does what it did before).
---@return boolean
function M.tab()
  if not M.visible() then
    return false
  end
  local e = state.edit
  if cursor_at_edit(e) then
    apply(e)
  else
    pcall(api.nvim_win_set_cursor, 0, { e.row + 1, e.col })
    e.jumped = true
    draw(e)
  end
  return true
end

--- <C-]> on a shown next edit: hide it. False when none is shown.
---@return boolean
function M.dismiss()
  if not M.visible() then
    return false
  end
  M.clear()
  return true
end

---@param bufnr integer
function M.attach(bufnr)
  if state.attached[bufnr] then
    return
  end
  state.attached[bufnr] = true
  local group = api.nvim_create_augroup('seed_coder_next_edit_' .. bufnr, { clear = true })
  api.nvim_create_autocmd({ 'TextChanged', 'TextChangedI', 'InsertLeave' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      if not M.visible() then
        M.clear()
      end
      cancel_pending()
      schedule()
    end,
  })
  api.nvim_create_autocmd('BufLeave', {
    group = group,
    buffer = bufnr,
    callback = function()
      if state.edit and state.edit.bufnr == bufnr then
        M.clear()
      end
    end,
  })
  api.nvim_create_autocmd('BufWipeout', {
    group = group,
    buffer = bufnr,
    callback = function()
      state.attached[bufnr] = nil
      pcall(api.nvim_del_augroup_by_name, 'seed_coder_next_edit_' .. bufnr)
    end,
  })
  local keys = require('seed_coder.config').options.keymaps
  -- Normal mode: the keys act only while an edit is shown (else <Tab> is <C-i>, as always);
  -- a key the user mapped in Normal mode is left to them (Insert mode still has ours).
  local function user_mapped(lhs)
    local m = vim.fn.maparg(lhs, 'n', false, true)
    return type(m) == 'table' and next(m) ~= nil and m.buffer == 0
  end
  local function normal(lhs, fn, desc)
    if lhs and not user_mapped(lhs) then
      vim.keymap.set('n', lhs, function()
        return M.key(fn) or lhs
      end, { buffer = bufnr, expr = true, replace_keycodes = true, desc = desc })
    end
  end
  normal(keys.accept, 'tab', 'seed_coder: jump to / apply the next edit')
  normal(keys.dismiss, 'dismiss', 'seed_coder: dismiss the next edit')
end

--- For an expr mapping (where the buffer cannot change): the keys that run `fn` ('tab' or
--- 'dismiss') when a next edit is shown, else nil.
---@param fn string
---@return string|nil
function M.key(fn)
  if M.visible() then
    return ('<Cmd>lua require("seed_coder.next_edit").%s()<CR>'):format(fn)
  end
  return nil
end

return M
