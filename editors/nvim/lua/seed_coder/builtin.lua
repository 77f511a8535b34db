-- Neovim 0.12+: suggestions come from the built-in vim.lsp.inline_completion (its own 200 ms
-- timer and ghost text). This module scopes it to our client and adds what it lacks, through
-- its public API only: partial accept (next word, next line), dismiss and trigger. The rest of a
-- partly accepted suggestion is asked for again by the built-in client and answered from the
-- server's typed-through cache (no new generation).
local M = {}

local function ic()
  return vim.lsp.inline_completion
end

local function our_name()
  return require('seed_coder.lsp').name
end

--- Turns the built-in inline completion on or off for our client only (never another server's).
---@param on boolean
---@param client_id integer
function M.enable(on, client_id)
  ic().enable(on, { client_id = client_id })
end

---@param on boolean
function M.set_enabled(on)
  for _, client in ipairs(vim.lsp.get_clients({ name = our_name() })) do
    M.enable(on, client.id)
  end
end

local function item_text(item)
  local t = item.insert_text
  return type(t) == 'string' and t or t.value
end

--- Accepts the shown suggestion, or only its next word or line (ours; another server's item is
--- accepted whole). Returns false when nothing is shown.
---@param part? 'word'|'line'
---@return boolean
function M.accept(part)
  return ic().get({
    on_accept = function(item)
      local client = vim.lsp.get_client_by_id(item.client_id)
      if not part or not client or client.name ~= our_name() then
        return item
      end
      local text = item_text(item)
      local piece = require('seed_coder.parts')[part](text)
      if #piece >= #text then
        return item
      end
      -- no range: the built-in client pastes it at the cursor and leaves the cursor after it
      return { _index = item._index, client_id = item.client_id, insert_text = piece }
    end,
  })
end

--- Hides the shown suggestion; false when nothing is shown.
---@return boolean
function M.dismiss()
  return ic().get({
    on_accept = function()
      return nil -- accept nothing: get() has already hidden it
    end,
  })
end

--- Asks now: the built-in client requests after the cursor moves (its 200 ms timer).
---@param bufnr? integer
function M.trigger(bufnr)
  vim.api.nvim_exec_autocmds('CursorMovedI', { buffer = bufnr or 0, modeline = false })
end

--- Buffer-local Insert-mode keys; accept and dismiss fall back to their normal meaning.
---@param bufnr integer
---@param client vim.lsp.Client
---@param keys seed_coder.Keymaps
---@param enabled boolean
function M.attach(bufnr, client, keys, enabled)
  M.enable(enabled, client.id)
  local function map(lhs, fn, desc, next_edit)
    if lhs then
      vim.keymap.set('i', lhs, function()
        if fn() then
          return ''
        end
        -- no suggestion shown: a next edit, if one is shown, has the key
        return next_edit and require('seed_coder.next_edit').key(next_edit) or lhs
      end, { buffer = bufnr, expr = true, replace_keycodes = true, desc = desc })
    end
  end
  map(keys.accept, M.accept, 'seed_coder: accept suggestion / next edit', 'tab')
  map(keys.accept_word, function()
    return M.accept('word')
  end, 'seed_coder: accept next word')
  map(keys.accept_line, function()
    return M.accept('line')
  end, 'seed_coder: accept next line')
  map(keys.dismiss, M.dismiss, 'seed_coder: dismiss suggestion / next edit', 'dismiss')
  if keys.trigger then
    vim.keymap.set('i', keys.trigger, function()
      M.trigger(bufnr)
    end, { buffer = bufnr, desc = 'seed_coder: ask for a suggestion now' })
  end
end

return M
