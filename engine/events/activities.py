DISPATCH_EVENT = "events.dispatch"
