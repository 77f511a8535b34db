-- Neovim 0.10/0.11: request `textDocument/inlineCompletion` ourselves and draw ghost text.
--
-- One suggestion at a time (the first item of the answer). Positions are kept as 0-based
-- (row, byte col); the LSP range is converted with the client's offset encoding.
local api = vim.api
local ghost = require('seed_coder.ghost')
local lsp = require('seed_coder.lsp')

local M = {}

local METHOD = 'textDocument/inlineCompletion'
local TRIGGER_INVOKED, TRIGGER_AUTOMATIC = 1, 2
local has_011 = vim.fn.has('nvim-0.11') == 1

local state = {
  enabled = true,
  ---@type uv.uv_timer_t|nil
  timer = nil,
  --- request in flight: { client, id, bufnr, tick, row, col }
  pending = nil,
  --- shown suggestion: { bufnr, row, col, tick, text, end_row, end_col }
  --- (row, col) = cursor; text = what accepting inserts at the cursor;
  --- (end_row, end_col) = end of the server's range (>= cursor): text up to there is replaced.
  suggestion = nil,
  --- position produced by our own full accept: no automatic request for it
  skip = nil,
  attached = {},
  last_error = nil,
}
M._state = state

local function debounce_ms()
  return require('seed_coder.config').options.debounce_ms
end

local function cursor()
  local pos = api.nvim_win_get_cursor(0)
  return pos[1] - 1, pos[2]
end

local function in_insert()
  return api.nvim_get_mode().mode:sub(1, 1) == 'i'
end

local function tick(bufnr)
  return api.nvim_buf_get_changedtick(bufnr)
end

--- LSP character offset -> byte column in `line`.
local function byte_col(line, character, encoding)
  if character <= 0 then
    return 0
  end
  if encoding == 'utf-8' then
    return math.min(character, #line)
  end
  local ok, col
  if has_011 then
    ok, col = pcall(vim.str_byteindex, line, encoding, character, false)
  else
    ok, col = pcall(vim.str_byteindex, line, character, encoding == 'utf-16')
  end
  if not ok or not col then
    return #line
  end
  return math.min(col, #line)
end

local function lsp_to_byte(bufnr, pos, encoding)
  local nlines = api.nvim_buf_line_count(bufnr)
  local row = math.min(pos.line, nlines - 1)
  if pos.line >= nlines then
    local last = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
    return row, #last
  end
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  return row, byte_col(line, pos.character, encoding)
end

local function client_call(client, method, ...)
  if has_011 then
    return client[method](client, ...)
  end
  return client[method](...)
end

local function stop_timer()
  if state.timer then
    state.timer:stop()
  end
end

--- Cancels the request in flight (sends $/cancelRequest).
function M.cancel()
  local p = state.pending
  state.pending = nil
  if p then
    pcall(client_call, p.client, 'cancel_request', p.id)
  end
end

--- Hides the ghost text and forgets the suggestion.
function M.hide()
  local s = state.suggestion
  state.suggestion = nil
  if s then
    ghost.clear(s.bufnr)
  end
end

--- Hides, cancels and stops the debounce timer.
function M.clear()
  stop_timer()
  M.cancel()
  M.hide()
end

--- Is a suggestion shown for the current buffer, text and cursor?
function M.visible()
  local s = state.suggestion
  if not s or s.bufnr ~= api.nvim_get_current_buf() or s.tick ~= tick(s.bufnr) then
    return false
  end
  local row, col = cursor()
  return row == s.row and col == s.col
end

--- Builds a suggestion from an inline completion item, or nil when it cannot be shown.
local function build(req, item, encoding)
  local text = item.insertText
  if type(text) == 'table' then
    text = text.value -- StringValue (snippet): shown and inserted verbatim
  end
  if type(text) ~= 'string' or text == '' then
    return nil
  end
  local bufnr, row, col = req.bufnr, req.row, req.col
  local sr, sc, er, ec = row, col, row, col
  if type(item.range) == 'table' then
    sr, sc = lsp_to_byte(bufnr, item.range.start, encoding)
    er, ec = lsp_to_byte(bufnr, item.range['end'], encoding)
  end
  if sr ~= row or sc > col then
    return nil
  end
  if sc < col then
    -- range starts before the cursor: the text must repeat what is already typed
    local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
    local typed = line:sub(sc + 1, col)
    if text:sub(1, #typed) ~= typed then
      return nil
    end
    text = text:sub(#typed + 1)
  end
  if er < row or (er == row and ec < col) then
    er, ec = row, col
  end
  if text == '' then
    return nil
  end
  return { bufnr = bufnr, row = row, col = col, tick = req.tick, text = text, end_row = er, end_col = ec }
end

local function on_response(req, err, result)
  if state.pending ~= req then
    return -- superseded or cancelled
  end
  state.pending = nil
  if err then
    -- -32800 RequestCancelled, -32801 ContentModified: expected when typing
    if err.code ~= -32800 and err.code ~= -32801 then
      state.last_error = err
    end
    return
  end
  if not state.enabled or not in_insert() then
    return
  end
  local bufnr = api.nvim_get_current_buf()
  local row, col = cursor()
  if bufnr ~= req.bufnr or tick(bufnr) ~= req.tick or row ~= req.row or col ~= req.col then
    return -- stale answer
  end
  if type(result) ~= 'table' then
    return
  end
  local items = result.items or result
  for _, item in ipairs(items) do
    local s = build(req, item, req.client.offset_encoding)
    if s then
      M.hide()
      state.suggestion = s
      ghost.show(s)
      return
    end
  end
end

--- Sends a request for the cursor position now.
---@param kind? integer 1 = Invoked, 2 = Automatic (default)
function M.request(kind)
  stop_timer()
  if not state.enabled or not in_insert() then
    return
  end
  local bufnr = api.nvim_get_current_buf()
  local client = lsp.get_client(bufnr)
  if not client then
    return
  end
  M.cancel()
  local row, col = cursor()
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding or 'utf-16')
  params.context = { triggerKind = kind or TRIGGER_AUTOMATIC }
  local req = { client = client, bufnr = bufnr, tick = tick(bufnr), row = row, col = col }
  local ok, ok_req, id = pcall(client_call, client, 'request', METHOD, params, function(err, result)
    on_response(req, err, result)
  end, bufnr)
  if ok and ok_req and id then
    req.id = id
    state.pending = req
  end
end

--- Asks now (trigger key): Invoked trigger kind, no debounce.
function M.trigger()
  M.hide()
  M.request(TRIGGER_INVOKED)
end

local function schedule_request(kind)
  M.cancel()
  stop_timer()
  local ms = debounce_ms()
  if ms <= 0 then
    vim.schedule(function()
      M.request(kind)
    end)
    return
  end
  state.timer = state.timer or vim.uv.new_timer()
  state.timer:start(ms, 0, vim.schedule_wrap(function()
    M.request(kind)
  end))
end

--- Typed text that matches the start of the suggestion: keep showing the rest.
local function try_trim(s, row, col, t)
  if row ~= s.row or col <= s.col or t == s.tick then
    return false
  end
  local line = api.nvim_buf_get_lines(s.bufnr, row, row + 1, false)[1] or ''
  local typed = line:sub(s.col + 1, col)
  if #typed >= #s.text or s.text:sub(1, #typed) ~= typed then
    return false
  end
  s.text = s.text:sub(#typed + 1)
  if s.end_row == s.row then
    s.end_col = math.max(s.end_col + #typed, col)
  end
  s.col, s.tick = col, t
  ghost.show(s)
  return true
end

local function on_change()
  if not state.enabled then
    return
  end
  local bufnr = api.nvim_get_current_buf()
  local row, col = cursor()
  local t = tick(bufnr)
  local sk = state.skip
  if sk and sk.bufnr == bufnr and sk.tick == t and sk.row == row and sk.col == col then
    return
  end
  state.skip = nil
  local p = state.pending
  if p and p.bufnr == bufnr and p.tick == t and p.row == row and p.col == col then
    return -- the request in flight is for this very position
  end
  local s = state.suggestion
  if s and s.bufnr == bufnr then
    if s.tick == t and s.row == row and s.col == col then
      return -- still valid (e.g. after a partial accept)
    end
    if try_trim(s, row, col, t) then
      M.cancel()
      stop_timer()
      return
    end
    M.hide()
  end
  schedule_request(TRIGGER_AUTOMATIC)
end

local parts = require('seed_coder.parts')

local function end_of(row, col, lines)
  if #lines == 1 then
    return row, col + #lines[1]
  end
  return row + #lines - 1, #lines[#lines]
end

--- Accepts the suggestion, or part of it.
---@param part? 'word'|'line' nil = all
---@return boolean accepted
function M.accept(part)
  if not M.visible() then
    return false
  end
  local s = state.suggestion
  stop_timer()
  M.cancel()
  local chunk = s.text
  if part then
    chunk = parts[part](s.text)
  end
  local lines = vim.split(chunk, '\n', { plain = true })
  local row, col = end_of(s.row, s.col, lines)
  if #chunk >= #s.text then
    -- everything: replace the server's range from the cursor to its end
    M.hide()
    api.nvim_buf_set_text(s.bufnr, s.row, s.col, s.end_row, s.end_col, lines)
    api.nvim_win_set_cursor(0, { row + 1, col })
    state.skip = { bufnr = s.bufnr, tick = tick(s.bufnr), row = row, col = col }
    return true
  end
  -- part: insert it at the cursor, keep showing the rest
  api.nvim_buf_set_text(s.bufnr, s.row, s.col, s.row, s.col, lines)
  if s.end_row == s.row then
    s.end_col = s.end_col - s.col + col
  end
  s.end_row = s.end_row + #lines - 1
  s.text = s.text:sub(#chunk + 1)
  s.row, s.col, s.tick = row, col, tick(s.bufnr)
  api.nvim_win_set_cursor(0, { row + 1, col })
  ghost.show(s)
  return true
end

function M.accept_word()
  return M.accept('word')
end

function M.accept_line()
  return M.accept('line')
end

function M.dismiss()
  M.clear()
end

--- Insert-mode keymaps, buffer-local. Accept/dismiss keys fall back to their normal meaning
--- when no suggestion is shown.
local function set_keymaps(bufnr, keys)
  local function fallback_map(lhs, fn, desc, next_edit)
    if not lhs then
      return
    end
    vim.keymap.set('i', lhs, function()
      if M.visible() then
        return ('<Cmd>lua require("seed_coder.inline").%s()<CR>'):format(fn)
      end
      -- no suggestion shown: a next edit, if one is shown, has the key
      return next_edit and require('seed_coder.next_edit').key(next_edit) or lhs
    end, { buffer = bufnr, expr = true, replace_keycodes = true, desc = desc })
  end
  fallback_map(keys.accept, 'accept', 'seed_coder: accept suggestion / next edit', 'tab')
  fallback_map(keys.accept_word, 'accept_word', 'seed_coder: accept next word')
  fallback_map(keys.accept_line, 'accept_line', 'seed_coder: accept next line')
  fallback_map(keys.dismiss, 'dismiss', 'seed_coder: dismiss suggestion / next edit', 'dismiss')
  if keys.trigger then
    vim.keymap.set('i', keys.trigger, function()
      M.trigger()
    end, { buffer = bufnr, desc = 'seed_coder: ask for a suggestion now' })
  end
end

---@param bufnr integer
function M.attach(bufnr)
  if state.attached[bufnr] then
    return
  end
  state.attached[bufnr] = true
  local group = api.nvim_create_augroup('seed_coder_buf_' .. bufnr, { clear = true })
  api.nvim_create_autocmd({ 'InsertEnter', 'CursorMovedI', 'TextChangedI', 'TextChangedP' }, {
    group = group,
    buffer = bufnr,
    callback = on_change,
  })
  api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      state.skip = nil
      M.clear()
    end,
  })
  api.nvim_create_autocmd('BufWipeout', {
    group = group,
    buffer = bufnr,
    callback = function()
      M.detach(bufnr)
    end,
  })
  set_keymaps(bufnr, require('seed_coder.config').options.keymaps)
  if in_insert() and api.nvim_get_current_buf() == bufnr then
    schedule_request(TRIGGER_AUTOMATIC)
  end
end

---@param bufnr integer
function M.detach(bufnr)
  if not state.attached[bufnr] then
    return
  end
  state.attached[bufnr] = nil
  pcall(api.nvim_del_augroup_by_name, 'seed_coder_buf_' .. bufnr)
  if state.suggestion and state.suggestion.bufnr == bufnr then
    M.clear()
  end
  if state.pending and state.pending.bufnr == bufnr then
    M.cancel()
  end
end

--- The model became ready: ask for the cursor position if we are typing in an attached buffer.
function M.on_ready()
  local bufnr = api.nvim_get_current_buf()
  if state.attached[bufnr] and in_insert() and not state.pending and not M.visible() then
    schedule_request(TRIGGER_AUTOMATIC)
  end
end

function M.set_enabled(on)
  state.enabled = on
  if not on then
    M.clear()
  end
end

return M
