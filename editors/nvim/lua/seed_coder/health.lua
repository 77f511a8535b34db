-- :checkhealth seed_coder
local M = {}

function M.check()
  local h = vim.health
  local config = require('seed_coder.config')
  local lsp = require('seed_coder.lsp')
  local sc = require('seed_coder')

  h.start('seed_coder: Neovim')
  local v = vim.version()
  local ver = ('%d.%d.%d'):format(v.major, v.minor, v.patch)
  if sc.uses_builtin() then
    h.ok(('Neovim %s: using the built-in vim.lsp.inline_completion'):format(ver))
    h.info('built-in path: ghost text and requests by Neovim (200 ms after the cursor moves);'
      .. ' accept word/line, dismiss and trigger by this plugin, for the seed_coder client only')
  elseif vim.fn.has('nvim-0.10') == 1 then
    h.ok(('Neovim %s: using the plugin\'s inline completion (ghost text via extmarks)'):format(ver))
  else
    h.error(('Neovim %s is too old: 0.10 or newer is needed'):format(ver))
  end

  local keys = config.options.keymaps
  for _, k in ipairs({ 'accept', 'accept_word', 'accept_line', 'dismiss', 'trigger' }) do
    h.info(('keymap %s: %s'):format(k, keys[k] and keys[k] or 'off'))
  end

  h.start('seed_coder: server')
  local cmd = config.options.cmd
  if type(cmd) == 'table' then
    local exe = cmd[1]
    if vim.fn.executable(exe) == 1 then
      h.ok(('server command found: %s'):format(vim.fn.exepath(exe)))
    else
      h.error(('server command %q not found'):format(exe), {
        'install it from a clone: pipx install /path/to/seed-coder-lsp (or uv tool install)',
        "or point at the clone's venv: require('seed_coder').setup({ cmd = "
          .. "{ '/path/to/seed-coder-lsp/.venv/bin/seed-coder-lsp' } })",
      })
    end
  else
    h.info('server command is a function')
  end

  local clients = vim.lsp.get_clients({ name = lsp.name })
  if #clients == 0 then
    h.warn('no seed_coder client running (open a file of a configured filetype)')
  else
    for _, c in ipairs(clients) do
      local ok, stopped = pcall(function()
        if vim.fn.has('nvim-0.11') == 1 then
          return c:is_stopped()
        end
        return c.is_stopped()
      end)
      local running = not (ok and stopped)
      local caps = c.server_capabilities or {}
      local msg = ('client %d: %s, offset encoding %s, inlineCompletionProvider: %s'):format(
        c.id,
        running and 'running' or 'stopped',
        tostring(c.offset_encoding),
        tostring(caps.inlineCompletionProvider ~= nil)
      )
      if running then
        h.ok(msg)
      else
        h.error(msg)
      end
    end
  end

  h.start('seed_coder: model')
  local st = lsp.status
  if not st then
    h.warn('no seedCoder/status notification received yet')
  else
    local line = ('state: %s%s%s%s'):format(
      tostring(st.state),
      st.percent and (' %d%%'):format(st.percent) or '',
      (st.message and st.message ~= '') and (' - ' .. tostring(st.message)) or '',
      st.lastLatencyMs and (' (last completion %d ms)'):format(st.lastLatencyMs) or ''
    )
    if st.state == 'ready' then
      h.ok(line)
    elseif st.state == 'error' then
      h.error(line)
    else
      h.warn(line)
    end
  end
  if not sc.is_enabled() then
    h.warn('suggestions are turned off (:SeedCoderEnable)')
  end

  h.start('seed_coder: next edits')
  local ne = st and st.nextEdit
  if ne == 'ready' then
    h.ok('next edits: ready (<Tab> jumps to / applies a shown edit, <C-]> dismisses)')
  elseif ne == 'error' then
    h.error('next edits: the next-edit model failed (see :LspLog or :messages)')
  elseif ne == nil or ne == 'off' then
    h.info('next edits: off (set the server setting nextEditModel, see :help seed_coder-next-edit)')
  else
    h.info('next edits: ' .. tostring(ne))
  end
end

return M
