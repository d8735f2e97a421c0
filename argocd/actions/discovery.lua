-- Which qwenops.io/QwenDeployment actions Argo CD offers now.
--
-- Each action sets an annotation the operator acts on once per new value. A value it cannot act
-- on is used up for nothing: a promote, abort or retry set while no canary runs is recorded as
-- handled with a RequestIgnored event. So an action is offered only while the status shows the
-- operator would act on it now:
--
--   promote  a canary holds at a step whose weight is in effect (phase Progressing or Paused,
--            not yet scaling up to take over), or a bake runs (phase Baking: it ends now)
--   abort    a canary runs (phase Progressing or Paused), or a bake runs (the new stable is
--            rolled back to the previous revision's warm pods)
--   retry    the declared revision was rolled back (phase RolledBack)
--   undo     there is a revision to go back to: the stable one while a canary runs, else the
--            stable one before the last promotion (status.previous)
--
-- None is offered while the status describes an older generation of the spec (what the page
-- shows may not be what the operator would act on), nor while the spec is refused (the operator
-- acts on nothing until it is fixed). While a child's name is held by another owner
-- (ChildConflict=True) the phase says Degraded, yet the rollout goes on: the canary and the
-- rejected revision in the status say what the operator would act on.

local actions = {}
actions["promote"] = {["disabled"] = true, ["iconClass"] = "fa fa-fw fa-forward",
                      ["displayName"] = "Promote: end the current step"}
actions["abort"] = {["disabled"] = true, ["iconClass"] = "fa fa-fw fa-stop",
                    ["displayName"] = "Abort: roll the canary back"}
actions["retry"] = {["disabled"] = true, ["iconClass"] = "fa fa-fw fa-redo",
                    ["displayName"] = "Retry the rolled-back revision"}
actions["undo"] = {["disabled"] = true, ["iconClass"] = "fa fa-fw fa-undo",
                   ["displayName"] = "Undo: serve the previous revision"}

local status = obj.status
if status == nil or status.observedGeneration == nil then
  return actions
end
local observed, wanted = tonumber(status.observedGeneration), tonumber(obj.metadata.generation)
if observed == nil or (wanted ~= nil and observed < wanted) then
  return actions
end
local conflicted = false
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "InvalidSpec" and condition.status == "True" then
      return actions
    end
    if condition.type == "ChildConflict" and condition.status == "True" then
      conflicted = true
    end
  end
end

local canary = status.canary
if canary ~= nil and (status.phase == "Progressing" or status.phase == "Paused" or conflicted) then
  actions["abort"]["disabled"] = false
  if canary.stepStartedAt ~= nil and canary.promoting ~= true then
    actions["promote"]["disabled"] = false
  end
end
if status.bake ~= nil and (status.phase == "Baking" or conflicted) then
  actions["abort"]["disabled"] = false
  actions["promote"]["disabled"] = false
end
if (status.phase == "RolledBack" or conflicted) and status.rejectedRevision ~= nil then
  actions["retry"]["disabled"] = false
end
if (canary ~= nil and status.stable ~= nil) or status.previous ~= nil then
  actions["undo"]["disabled"] = false
end
return actions
