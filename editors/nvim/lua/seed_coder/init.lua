-- seed_coder: Neovim client for seed-coder-lsp (local Seed-Coder fill-in-the-middle completions
-- served as LSP `textDocument/inlineCompletion`).
--
--   require('seed_coder').setup({ cmd = { 'seed-coder-lsp' }, settings = { model = '...' } })
--
-- Neovim 0.12+ has inline completion built in (vim.lsp.inline_completion); it is used there.
-- On Neovim 0.10/0.11 this plugin requests the completions itself (lua/seed_coder/inline.lua).
local M = {}

--- true when Neovim's own inline completion (0.12+) is used instead of this plugin's loop.
function M.uses_builtin()
  return vim.lsp.inline_completion ~= nil and vim.lsp.inline_completion.enable ~= nil
end

local enabled = true


local function on_attach(args)
  local client = vim.lsp.get_client_by_id(args.data.client_id)
  if not client or client.name ~= require('seed_coder.lsp').name then
    return
  end
  local cfg = require('seed_coder.config').options
  if M.uses_builtin() then
    require('seed_coder.builtin').attach(args.buf, client, cfg.keymaps, enabled)
  else
    require('seed_coder.inline').attach(args.buf)
  end
  require('seed_coder.next_edit').attach(args.buf)
end

--- Configures and enables the server. Safe to call again (new options replace the old ones).
---@param opts? table see :help seed_coder-options
function M.setup(opts)
  local cfg = require('seed_coder.config').set(opts)
  local ghost = require('seed_coder.ghost')
  local function define_hl()
    ghost.define_hl()
    require('seed_coder.next_edit').define_hl()
  end
  define_hl()
  local group = vim.api.nvim_create_augroup('seed_coder', { clear = true })
  vim.api.nvim_create_autocmd('ColorScheme', { group = group, callback = define_hl })
  vim.api.nvim_create_autocmd('LspAttach', { group = group, callback = on_attach })
  vim.api.nvim_create_autocmd('LspDetach', {
    group = group,
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == require('seed_coder.lsp').name and not M.uses_builtin() then
        require('seed_coder.inline').detach(args.buf)
      end
    end,
  })
  require('seed_coder.lsp').setup(cfg)
  -- buffers that already have the client (setup() called twice)
  for _, client in ipairs(vim.lsp.get_clients({ name = require('seed_coder.lsp').name })) do
    for bufnr in pairs(client.attached_buffers or {}) do
      on_attach({ buf = bufnr, data = { client_id = client.id } })
    end
  end
  return cfg
end

--- Turns suggestions on or off (the server keeps running).
---@param on boolean
function M.set_enabled(on)
  enabled = on
  if M.uses_builtin() then
    require('seed_coder.builtin').set_enabled(on) -- our client only, never another server's
  else
    require('seed_coder.inline').set_enabled(on)
  end
end

function M.enable()
  M.set_enabled(true)
end

function M.disable()
  M.set_enabled(false)
end

function M.toggle()
  M.set_enabled(not enabled)
end

function M.is_enabled()
  return enabled
end

--- One line describing the state, for :SeedCoderStatus and statuslines.
---@return string
function M.status_line()
  local lsp = require('seed_coder.lsp')
  local st = lsp.status
  local parts = { 'seed_coder:' }
  if not enabled then
    parts[#parts + 1] = '[suggestions off]'
  end
  local clients = vim.lsp.get_clients({ name = lsp.name })
  if #clients == 0 then
    parts[#parts + 1] = 'server not running'
  elseif not st then
    parts[#parts + 1] = 'server running (client ' .. clients[1].id .. '), no status yet'
  else
    parts[#parts + 1] = tostring(st.state)
    if st.percent then
      parts[#parts + 1] = ('%d%%'):format(st.percent)
    end
    if st.message and st.message ~= '' then
      parts[#parts + 1] = '- ' .. tostring(st.message)
    end
    if st.lastLatencyMs then
      parts[#parts + 1] = ('(last completion %d ms)'):format(st.lastLatencyMs)
    end
  end
  parts[#parts + 1] = M.uses_builtin() and '[Neovim built-in inline completion]'
    or '[plugin inline completion]'
  return table.concat(parts, ' ')
end

--- Asks the server to download a registry model (`name`, or the configured one): it never
--- downloads unasked. The server reports progress and errors itself; the outcome is echoed.
function M.download(name)
  local lsp = require('seed_coder.lsp')
  local client = vim.lsp.get_clients({ name = lsp.name })[1]
  if not client then
    vim.notify('seed_coder: the server is not running', vim.log.levels.WARN)
    return
  end
  local args = (name and name ~= '') and { name } or {}
  local params = { command = 'seedCoder.server.downloadModel', arguments = args }
  local function done(err, result)
    M.last_download = { err = err, result = result }
    if err then
      vim.notify('seed_coder: download failed: ' .. tostring(err.message), vim.log.levels.ERROR)
    elseif type(result) == 'table' and result.ok then
      vim.notify('seed_coder: downloaded ' .. tostring(result.model), vim.log.levels.INFO)
    end
  end
  lsp.request(client, 'workspace/executeCommand', params, done)
end

--- Asks for the next edit at the cursor now (:SeedCoderNextEdit).
function M.next_edit()
  require('seed_coder.next_edit').request()
end

function M.status()
  vim.api.nvim_echo({ { M.status_line() } }, false, {})
end

return M
