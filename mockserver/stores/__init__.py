"""Where the state several replicas share lives: in this process (memory) or in Redis."""
