"""Who may call and be called: admission limits and budgets, the live-call registry, compliance."""
