-- The operator acts on each NEW value of the annotation qwenops.io/<kind> once, and records the
-- value it acted on in status.handled.<kind>. So the value set here must differ from the one
-- there now and from the last one handled, or the request is silently ignored.
--
-- The value is the UTC time of the request, so `kubectl describe` says when it was asked. The
-- clock is the one Argo CD gives custom actions: the base and table libraries only, plus
-- require("os") with os.time and os.date (Argo CD util/lua/oslib_safe.go; there is no global
-- `os`, no string library). A clock ticks in seconds and may differ between Argo CD server
-- replicas, so when the time equals the current or the handled value (two requests in one
-- second), a counter is appended, <time>-2, <time>-3, ..., until the value is new.
-- The action changes metadata.annotations only: never spec (Git owns it), never status.

local annotation = "qwenops.io/" .. kind
local os = require("os")

if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
local current = obj.metadata.annotations[annotation]
local handled = nil
if obj.status ~= nil and obj.status.handled ~= nil then
  handled = obj.status.handled[kind]
end

local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
local value = now
local count = 1
while value == current or value == handled do
  count = count + 1
  value = now .. "-" .. tostring(count)
end
obj.metadata.annotations[annotation] = value
return obj
