"""Flask blueprints: thin views that parse, authorise (through services.scope), call a service, render."""
