-- dtma_container_registry: the mirror of what each DTMA agent runs, written
-- by the agents (service role, through their outbox) and read by the backend
-- and by users for the instances on their own toolboxes.
-- Idempotent: applying it again changes nothing (every statement is
-- "if not exists" or replaces its own object), so a re-run after a partial
-- failure completes the job instead of erroring.

create table if not exists public.dtma_container_registry (
  id uuid primary key default gen_random_uuid(),
  account_tool_instance_id uuid not null
    references public.account_tool_instances (id) on delete cascade,
  account_tool_environment_id uuid,
  container_name text not null,
  instance_name_on_toolbox text not null,
  docker_image_url text not null,
  container_id varchar(64),
  dtma_status text not null,
  docker_status text,
  port_bindings jsonb not null default '{}'::jsonb,
  -- Keys only: a value (anything after "=") would be a secret leaving the VM,
  -- so the database refuses it even if an agent got it wrong.
  environment_variables jsonb,
  last_seen_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint dtma_container_registry_instance_unique unique (account_tool_instance_id),
  constraint dtma_container_registry_status_check
    check (dtma_status in ('pending', 'starting', 'running', 'stopping', 'stopped', 'error')),
  constraint dtma_container_registry_port_bindings_object
    check (jsonb_typeof(port_bindings) = 'object'),
  constraint dtma_container_registry_env_keys_only
    check (
      environment_variables is null
      or (
        jsonb_typeof(environment_variables) = 'array'
        and not jsonb_path_exists(environment_variables, '$[*] ? (@.type() != "string" || @ like_regex "=")')
      )
    )
);

comment on table public.dtma_container_registry is
  'What each DTMA agent runs, mirrored by the agent (one row per account_tool_instance); environment_variables holds keys only';

-- The backend lists a toolbox's containers and the frontend filters by status.
create index if not exists dtma_container_registry_environment_idx
  on public.dtma_container_registry (account_tool_environment_id, dtma_status);

create or replace function public.dtma_container_registry_set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

drop trigger if exists dtma_container_registry_updated_at on public.dtma_container_registry;
create trigger dtma_container_registry_updated_at
  before update on public.dtma_container_registry
  for each row execute function public.dtma_container_registry_set_updated_at();

alter table public.dtma_container_registry enable row level security;

-- Writers are the agents with the service-role key; users only read.
revoke all on public.dtma_container_registry from anon, authenticated;
grant select on public.dtma_container_registry to authenticated;
grant select, insert, update, delete on public.dtma_container_registry to service_role;

drop policy if exists dtma_container_registry_service_role_all on public.dtma_container_registry;
create policy dtma_container_registry_service_role_all
  on public.dtma_container_registry
  for all to service_role
  using (true) with check (true);

drop policy if exists dtma_container_registry_owner_read on public.dtma_container_registry;
create policy dtma_container_registry_owner_read
  on public.dtma_container_registry
  for select to authenticated
  using (
    exists (
      select 1
      from public.account_tool_instances ati
      join public.account_tool_environments ate on ate.id = ati.account_tool_environment_id
      where ati.id = dtma_container_registry.account_tool_instance_id
        and ate.user_id = (select auth.uid())
    )
  );
