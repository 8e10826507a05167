-- Test-only (never a migration): the parts of Agentopia's Supabase database
-- that DTMA relies on, so the migration can be applied and checked on a
-- plain PostgreSQL: the roles PostgREST switches to, auth.uid() reading the
-- request's JWT claims the way Supabase's does, and account_tool_environments /
-- account_tool_instances / tool_catalog with the columns, enum values and
-- constraints of Agentopia's schema that DTMA's functions and its callers use.
-- Every test that needs the database builds it from this file and the
-- migrations: the agent's tests (packages/agent/test/helpers/postgres.ts) and
-- the Supabase stand-in of the edge functions' tests
-- (supabase/functions/_test/postgrest/database.ts), which holds no copy of
-- these rules: PostgreSQL enforces them.

do $$
begin
  -- Roles are cluster-wide: several test databases share them.
  if not exists (select from pg_roles where rolname = 'anon') then create role anon nologin noinherit; end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then create role authenticated nologin noinherit; end if;
  if not exists (select from pg_roles where rolname = 'service_role') then create role service_role nologin noinherit bypassrls; end if;
end
$$;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;
grant usage on schema public to anon, authenticated, service_role;

-- As in Supabase: the sub claim of the JWT PostgREST put in request.jwt.claims.
create or replace function auth.uid() returns uuid
language sql stable
as $$
  select nullif(
    coalesce(current_setting('request.jwt.claim.sub', true), current_setting('request.jwt.claims', true)::jsonb ->> 'sub'),
    ''
  )::uuid
$$;

-- Agentopia's values after its 2025-05-12 refactor (earlier values kept, WBS values added).
create type public.account_tool_installation_status_enum as enum (
  'pending_install', 'installing', 'active', 'error_install', 'pending_uninstall', 'uninstalling', 'uninstalled',
  'error_uninstall', 'pending_config', 'stopped', 'starting', 'stopping', 'error_runtime', 'disabled',
  'pending_deploy', 'deploying', 'running', 'error', 'pending_delete', 'deleting'
);
create type public.account_tool_environment_status_enum as enum (
  'inactive', 'pending_creation', 'creating', 'active', 'error_creation', 'pending_deletion', 'deleting', 'error_deletion',
  'unresponsive', 'scaling', 'pending_provision', 'provisioning', 'error_provisioning', 'pending_deprovision',
  'deprovisioning', 'deprovisioned', 'error_deprovisioning', 'awaiting_heartbeat'
);

create table public.tool_catalog (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  docker_image_url text,
  package_identifier text
);

create table public.account_tool_environments (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null,
  public_ip_address text,
  status public.account_tool_environment_status_enum not null default 'inactive',
  dtma_bearer_token text,
  dtma_last_known_version text,
  dtma_health_details_json jsonb,
  last_heartbeat_at timestamptz
);

create table public.account_tool_instances (
  id uuid primary key default gen_random_uuid(),
  account_tool_environment_id uuid not null references public.account_tool_environments (id) on delete cascade,
  tool_catalog_id uuid not null references public.tool_catalog (id),
  instance_name_on_toolbox text,
  status_on_toolbox public.account_tool_installation_status_enum not null default 'pending_install',
  docker_image_url text,
  base_config_override_json jsonb,
  last_heartbeat_from_dtma timestamptz,
  instance_error_message text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- How an MCP server is reached; Agentopia's MCP services write them after a deploy.
  mcp_server_type text check (mcp_server_type is null or mcp_server_type in ('standard_tool', 'mcp_server')),
  mcp_transport_type text default 'stdio' check (mcp_transport_type is null or mcp_transport_type in ('stdio', 'http', 'sse')),
  mcp_endpoint_path text,
  mcp_server_capabilities jsonb,
  mcp_discovery_metadata jsonb,
  -- One instance per catalog tool per toolbox.
  constraint uq_account_env_tool unique (account_tool_environment_id, tool_catalog_id)
);

-- Agentopia lets users read their own environments and manage the instances on them.
alter table public.account_tool_environments enable row level security;
alter table public.account_tool_instances enable row level security;
grant select on public.account_tool_environments, public.tool_catalog to authenticated;
grant select, insert, update, delete on public.account_tool_instances to authenticated;
grant all on public.account_tool_environments, public.account_tool_instances, public.tool_catalog to service_role;
create policy own_environments on public.account_tool_environments for select to authenticated using (user_id = auth.uid());
create policy own_instances on public.account_tool_instances for all to authenticated
  using (exists (select 1 from public.account_tool_environments e where e.id = account_tool_environment_id and e.user_id = auth.uid()))
  with check (exists (select 1 from public.account_tool_environments e where e.id = account_tool_environment_id and e.user_id = auth.uid()));
