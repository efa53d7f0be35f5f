"""The graph's nodes: plain functions over :class:`graphs.state.ConversationState` and the runtime context."""
