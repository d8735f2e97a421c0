-- Argo CD health of a qwenops.io/QwenDeployment, read from the status the operator writes.
--
-- Argo CD runs this in gopher-lua (Lua 5.1) with only the base and table libraries (no string,
-- no math): so this script compares and concatenates strings, and nothing more.
--
--   no status yet, or status.observedGeneration < metadata.generation  -> Progressing
--   condition InvalidSpec=True (phase Degraded: the spec was refused)   -> Degraded
--   condition ChildConflict=True (a child's name is another owner's)    -> Degraded
--   phase Healthy                                                       -> Healthy
--     ... but a person's undo serves another revision (SpecOverridden)  -> Degraded
--   phase Progressing (a first revision starting, a canary's steps)     -> Progressing
--   phase Baking (promoted; judged on, the previous revision warm)      -> Progressing
--   phase Paused (a step without a pause, waiting for promote)          -> Suspended
--   phase RolledBack (the declared revision is not serving)             -> Degraded
--     ... with status.capacity (stable replicas coming back) said after the message
--   phase Failed (a first revision's pods refused its checkpoint)       -> Degraded
--   phase Degraded (the stable revision lost ready replicas)            -> Degraded
--   any other phase                                                     -> Unknown
--
-- The message is the operator's own one-liner, status.message; while pods are starting, their
-- stage (status.startup.message: Downloading, Verifying, Loading, Unschedulable ...) follows it.

local hs = {}
local generation = obj.metadata.generation
local status = obj.status

local function waiting()
  hs.status = "Progressing"
  if generation ~= nil then
    hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  else
    hs.message = "Waiting for the operator to observe the spec"
  end
  return hs
end

if status == nil or status.observedGeneration == nil then
  return waiting()
end
-- tonumber: the API sends integers, but a number may reach the script as a string.
local observed, wanted = tonumber(status.observedGeneration), tonumber(generation)
if observed == nil or (wanted ~= nil and observed < wanted) then
  return waiting()
end

local phase = status.phase

-- The operator's one-liner; `fallback` only where an older operator left it empty.
local function said(fallback)
  if status.message ~= nil and status.message ~= "" then
    return status.message
  end
  return fallback
end

local function found(conditionType)
  if status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

local invalid = found("InvalidSpec")
if invalid ~= nil and invalid.status == "True" then
  hs.status = "Degraded"
  local why = invalid.message
  if why == nil or why == "" then
    why = invalid.reason or "SpecRejected"
  end
  hs.message = said("spec refused: " .. why)
  return hs
end

local conflict = found("ChildConflict")
if conflict ~= nil and conflict.status == "True" then
  -- An object the operator does not control (another QwenDeployment's child, a Service Helm
  -- made) holds a child's name: left alone, so its clients may reach something else. The
  -- condition names it; the phase says Degraded too, whatever the rollout underneath.
  hs.status = "Degraded"
  local why = conflict.message
  if why == nil or why == "" then
    why = "a child's name is held by an object this QwenDeployment does not control"
  end
  hs.message = said(why)
  return hs
end

local revision = "?"
if status.stable ~= nil and status.stable.revision ~= nil then
  revision = status.stable.revision
end

local overridden = found("SpecOverridden")
if phase == "Healthy" and overridden ~= nil and overridden.status == "True" then
  -- An undo serves an earlier revision until the spec changes: Git's revision is not serving,
  -- as after a rollback. The condition names both revisions; fixing Git ends it.
  hs.status = "Degraded"
  local undo = overridden.message
  if undo == nil or undo == "" then
    undo = "undo: an earlier revision serves instead of the spec's until the spec changes"
  end
  hs.message = undo .. "; " .. said("revision " .. revision .. " serving")
  return hs
end

if phase == "Healthy" then
  hs.status = "Healthy"
  hs.message = said("revision " .. revision .. " serving")
  return hs
end

if phase == "Progressing" then
  hs.status = "Progressing"
  hs.message = said("rolling out")
  local startup = status.startup
  if startup ~= nil and startup.stage ~= "Ready" and startup.message ~= nil and startup.message ~= "" then
    hs.message = hs.message .. "; pods: " .. startup.message
  end
  return hs
end

if phase == "Baking" then
  -- Promoted, but the rollout is not over: the analysis judges the new stable until the bake
  -- ends, and a breach still rolls it back to the previous revision's warm pods.
  hs.status = "Progressing"
  hs.message = said("revision " .. revision .. " baking")
  return hs
end

if phase == "Paused" then
  hs.status = "Suspended"
  hs.message = said("paused until promoted")
  return hs
end

if phase == "RolledBack" then
  -- The spec in Git names a revision that is not serving: the operator rolled it back (weight 0,
  -- no pods) and the previous stable revision serves. status.message names why; if it is empty,
  -- the history entry of the rollback does.
  hs.status = "Degraded"
  local fallback = "revision " .. tostring(status.rejectedRevision) .. " rolled back"
  if status.history ~= nil then
    for _, entry in ipairs(status.history) do
      if entry.outcome == "RolledBack" and entry.revision == status.rejectedRevision then
        fallback = "revision " .. entry.revision .. " rolled back (" .. tostring(entry.reason) .. ")"
      end
    end
  end
  hs.message = said(fallback)
  -- Within a budget the stable gets its replicas back as the canary's GPUs come free: say what is
  -- still missing.
  if status.capacity ~= nil and status.capacity.message ~= nil and status.capacity.message ~= "" then
    hs.message = hs.message .. "; capacity: " .. status.capacity.message
  end
  return hs
end

if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = said("revision " .. revision .. " cannot serve: fix spec.model")
  return hs
end

if phase == "Degraded" then
  hs.status = "Degraded"
  hs.message = said("revision " .. revision .. " lost ready replicas")
  return hs
end

hs.status = "Unknown"
if phase == nil then
  hs.message = said("the operator has written no phase")
else
  hs.message = "unknown phase " .. tostring(phase) .. ": " .. said("no message")
end
return hs
