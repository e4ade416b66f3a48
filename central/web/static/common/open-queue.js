// The open dispatches as the live stream tells them: kept by the queue page and by the shared worker alike.

// Apply one event of the stream to `open` (dispatch id -> dispatch). Returns "new" for a dispatch not shown before,
// "changed" for any other change applied, null when the event changed nothing (an older version of what is shown).
export function applyEvent(open, name, data) {
  if (name === "snapshot") {
    open.clear();
    for (const dispatch of data.dispatches) open.set(dispatch.id, dispatch);
    return "changed";
  }
  if (name === "resync") {
    open.clear();
    return "changed";
  }
  if (name !== "change") return null;
  const dispatch = data.dispatch;
  const known = open.get(dispatch.id);
  if (known && Date.parse(known.updated_at) > Date.parse(dispatch.updated_at)) return null;
  if (dispatch.state === "resolved") {
    open.delete(dispatch.id);
    return "changed";
  }
  open.set(dispatch.id, dispatch);
  return known ? "changed" : "new";
}
