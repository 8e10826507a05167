-- dtma_container_registry: what the agent last saw of each instance's MCP
-- server (protocol health, the tools it listed), beside its container.
-- All null for a container that is not an MCP server, and for rows written
-- by an agent of an earlier build. Idempotent, like the table's migration.

alter table public.dtma_container_registry
  add column if not exists mcp_status text,
  add column if not exists mcp_transport text,
  add column if not exists mcp_endpoint_path text,
  add column if not exists mcp_server_info jsonb,
  add column if not exists mcp_tools jsonb,
  add column if not exists mcp_tools_fingerprint text,
  add column if not exists mcp_checked_at timestamptz;

comment on column public.dtma_container_registry.mcp_endpoint_path is
  'where callers reach the MCP server: this path on the agent''s port (bearer token), e.g. /tools/My%20Tool/mcp';
comment on column public.dtma_container_registry.mcp_tools is
  'the tools as the server last listed them (name, description, input schema)';

alter table public.dtma_container_registry
  drop constraint if exists dtma_container_registry_mcp_status_check;
alter table public.dtma_container_registry
  add constraint dtma_container_registry_mcp_status_check
    check (mcp_status is null or mcp_status in ('starting', 'ready', 'degraded', 'unresponsive', 'stopped'));

alter table public.dtma_container_registry
  drop constraint if exists dtma_container_registry_mcp_transport_check;
alter table public.dtma_container_registry
  add constraint dtma_container_registry_mcp_transport_check
    check (mcp_transport is null or mcp_transport in ('stdio', 'http', 'sse'));

alter table public.dtma_container_registry
  drop constraint if exists dtma_container_registry_mcp_tools_array;
alter table public.dtma_container_registry
  add constraint dtma_container_registry_mcp_tools_array
    check (mcp_tools is null or jsonb_typeof(mcp_tools) = 'array');
