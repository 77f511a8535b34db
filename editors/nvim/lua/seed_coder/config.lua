-- Defaults, merging and validation of the options given to require('seed_coder').setup().
local M = {}

---@class seed_coder.Keymaps
---@field accept string|false
---@field accept_word string|false
---@field accept_line string|false
---@field dismiss string|false
---@field trigger string|false

---@class seed_coder.Config
---@field cmd string[]|fun(...): any   Command that starts the server.
---@field settings table               Server settings (camelCase keys, see :help seed_coder-settings).
---@field filetypes string[]|nil       nil = every filetype.
---@field root_markers string[]        Files that mark a project root.
---@field debounce_ms integer          Client-side debounce (Neovim 0.10/0.11 only).
---@field next_edit_debounce_ms integer Pause after an edit before a next edit is asked for.
---@field keymaps seed_coder.Keymaps

---@type seed_coder.Config
M.defaults = {
  cmd = { 'seed-coder-lsp' },
  settings = {},
  filetypes = nil,
  root_markers = { '.git' },
  debounce_ms = 30,
  next_edit_debounce_ms = 300,
  keymaps = {
    accept = '<Tab>',
    accept_word = '<M-Right>',
    accept_line = '<M-C-Right>',
    dismiss = '<C-]>',
    trigger = '<M-\\>',
  },
}

---@type seed_coder.Config
M.options = vim.deepcopy(M.defaults)

local function fail(msg)
  error('seed_coder.setup: ' .. msg, 0)
end

local function is_list_of_strings(v)
  if type(v) ~= 'table' then
    return false
  end
  for k, s in pairs(v) do
    if type(k) ~= 'number' or type(s) ~= 'string' then
      return false
    end
  end
  return true
end

local has_011 = vim.fn.has('nvim-0.11') == 1

local function check(name, value, types, optional)
  if has_011 then
    vim.validate(name, value, types, optional)
  else
    vim.validate({ [name] = { value, types, optional } })
  end
end

--- Checks `cfg` and raises a readable error for the first bad option.
---@param cfg seed_coder.Config
function M.validate(cfg)
  -- Types first, the Neovim way (vim.validate), with a "seed_coder.setup:" prefix.
  local ok, err = pcall(function()
    check('opts.cmd', cfg.cmd, { 'table', 'function' })
    check('opts.settings', cfg.settings, 'table')
    check('opts.filetypes', cfg.filetypes, 'table', true)
    check('opts.root_markers', cfg.root_markers, 'table')
    check('opts.debounce_ms', cfg.debounce_ms, 'number')
    check('opts.next_edit_debounce_ms', cfg.next_edit_debounce_ms, 'number')
    check('opts.keymaps', cfg.keymaps, 'table')
  end)
  if not ok then
    fail(tostring(err))
  end
  for key in pairs(cfg) do
    if M.defaults[key] == nil and key ~= 'filetypes' then
      fail(('unknown option %q'):format(tostring(key)))
    end
  end
  if type(cfg.cmd) == 'function' then
    -- allowed (in-process servers, tests)
  elseif not is_list_of_strings(cfg.cmd) or #cfg.cmd == 0 then
    fail('opts.cmd: expected a non-empty list of strings, got ' .. vim.inspect(cfg.cmd))
  end
  if type(cfg.settings) ~= 'table' then
    fail('opts.settings: expected a table, got ' .. type(cfg.settings))
  end
  if cfg.filetypes ~= nil and not is_list_of_strings(cfg.filetypes) then
    fail('opts.filetypes: expected nil or a list of strings, got ' .. vim.inspect(cfg.filetypes))
  end
  if not is_list_of_strings(cfg.root_markers) then
    fail('opts.root_markers: expected a list of strings')
  end
  if type(cfg.debounce_ms) ~= 'number' or cfg.debounce_ms < 0 then
    fail('opts.debounce_ms: expected a number >= 0, got ' .. vim.inspect(cfg.debounce_ms))
  end
  if type(cfg.keymaps) ~= 'table' then
    fail('opts.keymaps: expected a table, got ' .. type(cfg.keymaps))
  end
  for name, lhs in pairs(cfg.keymaps) do
    if M.defaults.keymaps[name] == nil then
      fail(('opts.keymaps: unknown key %q (known: accept, accept_word, accept_line, dismiss, trigger)'):format(tostring(name)))
    end
    if lhs ~= false and (type(lhs) ~= 'string' or lhs == '') then
      fail(('opts.keymaps.%s: expected a key string or false, got %s'):format(name, vim.inspect(lhs)))
    end
  end
end

--- Merges `opts` over the defaults, validates, and stores the result in M.options.
---@param opts? table
---@return seed_coder.Config
function M.set(opts)
  if opts ~= nil and type(opts) ~= 'table' then
    fail('expected a table of options, got ' .. type(opts))
  end
  opts = opts or {}
  local cfg = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts)
  -- Lists replace, they do not merge index by index.
  if opts.cmd ~= nil then
    cfg.cmd = opts.cmd
  end
  if opts.filetypes ~= nil then
    cfg.filetypes = opts.filetypes
  end
  if opts.root_markers ~= nil then
    cfg.root_markers = opts.root_markers
  end
  M.validate(cfg)
  M.options = cfg
  return cfg
end

return M
