-- Test helpers loaded into the headless Neovim driven by tests/editors/test_nvim.py (global T).
local T = {}

--- Ghost text extmarks of the current buffer: { row, col, inline, pos, hl, lines = {...} }.
function T.ghost()
  local names = vim.api.nvim_get_namespaces()
  -- Neovim 0.12 draws the built-in client's ghost text; 0.10/0.11 the plugin's
  local ns = require('seed_coder').uses_builtin() and names['nvim.lsp.inline_completion']
    or names.seed_coder
  if not ns then
    return {}
  end
  local out = {}
  for _, m in ipairs(vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })) do
    local d = m[4]
    local inline, hl = {}, nil
    for _, chunk in ipairs(d.virt_text or {}) do
      inline[#inline + 1] = chunk[1]
      hl = hl or chunk[2]
    end
    local lines = {}
    for _, vl in ipairs(d.virt_lines or {}) do
      local parts = {}
      for _, chunk in ipairs(vl) do
        parts[#parts + 1] = chunk[1]
      end
      lines[#lines + 1] = table.concat(parts)
    end
    out[#out + 1] = {
      row = m[2],
      col = m[3],
      inline = table.concat(inline),
      pos = d.virt_text_pos or '',
      hl = hl or '',
      lines = lines,
    }
  end
  return out
end

function T.status()
  local s = require('seed_coder.lsp').status
  return s and s.state or ''
end

--- id of the plugin's request in flight, or -1
function T.pending()
  local p = require('seed_coder.inline')._state.pending
  return p and p.id or -1
end

--- ids of the requests the LSP client still waits for (pending or cancelled, not answered)
function T.client_requests()
  local ids = {}
  for _, c in ipairs(vim.lsp.get_clients({ name = 'seed_coder' })) do
    for id in pairs(c.requests) do
      ids[#ids + 1] = id
    end
  end
  return ids
end

--- LspRequest events seen: { id, type, method }
T.events = {}
vim.api.nvim_create_autocmd('LspRequest', {
  callback = function(args)
    local r = args.data.request
    T.events[#T.events + 1] = { id = args.data.request_id, type = r.type, method = r.method }
  end,
})

--- Responses to inlineCompletion requests that reached the plugin's handler, by
--- tostring(request id): { err = error code or -1, items = number of items or -1 }.
--- (Neovim swallows the RequestCancelled error that acknowledges a $/cancelRequest.)
T.responses = {}
vim.api.nvim_create_autocmd('LspAttach', {
  callback = function(args)
    local client = vim.lsp.get_client_by_id(args.data.client_id)
    if not client or client.name ~= 'seed_coder' or client._t_spied then
      return
    end
    client._t_spied = true
    local orig = client.request
    client.request = function(self, method, params, handler, bufnr)
      if method ~= 'textDocument/inlineCompletion' then
        return orig(self, method, params, handler, bufnr)
      end
      local rec = {}
      local ok, id = orig(self, method, params, function(err, result, ctx)
        rec.err = err and err.code or -1
        rec.items = type(result) == 'table' and #(result.items or result) or -1
        if rec.id then
          T.responses[tostring(rec.id)] = rec
        end
        return handler(err, result, ctx)
      end, bufnr)
      rec.id = id
      return ok, id
    end
  end,
})

function T.cancelled_ids()
  local ids = {}
  for _, e in ipairs(T.events) do
    if e.type == 'cancel' and e.method == 'textDocument/inlineCompletion' then
      ids[#ids + 1] = e.id
    end
  end
  return ids
end

function T.inline_requests_sent()
  local n = 0
  for _, e in ipairs(T.events) do
    if e.type == 'pending' and e.method == 'textDocument/inlineCompletion' then
      n = n + 1
    end
  end
  return n
end

--- seedCoder/stats of our server (counters, decode steps).
function T.stats()
  local client = vim.lsp.get_clients({ name = 'seed_coder' })[1]
  local res = client:request_sync('seedCoder/stats', {}, 5000, 0)
  return res and res.result or vim.NIL
end

--- The next-edit overlay of the current buffer: { row, col, end_row, end_col, hl, text, lines }.
function T.next_edit()
  local ns = vim.api.nvim_get_namespaces().seed_coder_next_edit
  if not ns then
    return {}
  end
  local out = {}
  for _, m in ipairs(vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })) do
    local d = m[4]
    local text = {}
    for _, chunk in ipairs(d.virt_text or {}) do
      text[#text + 1] = chunk[1]
    end
    out[#out + 1] = {
      row = m[2],
      col = m[3],
      end_row = d.end_row or vim.NIL,
      end_col = d.end_col or vim.NIL,
      hl = d.hl_group or (d.virt_text and d.virt_text[1] and d.virt_text[1][2]) or '',
      text = table.concat(text),
    }
  end
  return out
end

function T.mode()
  return vim.api.nvim_get_mode().mode
end

_G.T = T
return T
