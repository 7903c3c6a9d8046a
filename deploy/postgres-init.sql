-- Temporal keeps its own databases beside Covo's (auto-setup creates the schemas).
CREATE DATABASE temporal OWNER covo;
CREATE DATABASE temporal_visibility OWNER covo;
