-- What lets one PostgreSQL carry a large fleet of toolboxes (docs/scale.md
-- has the measurements behind each item):
-- 1. dtma_heartbeat: a heartbeat is one call, one round trip. The toolbox is
--    found by its token and its row written (always one row: the time, the
--    version, the VM's numbers); an instance's row is written only when the
--    status the agent reports differs from the stored one. A toolbox whose
--    statuses did not change touches one row, not 1 + its instances.
--    last_heartbeat_at of the toolbox is how fresh every instance's status
--    is; last_heartbeat_from_dtma is the heartbeat that brought the status.
-- 2. The indexes the lookups need: toolboxes by token (every call of an
--    agent), instances by toolbox (heartbeat, registry ownership, refresh).
-- 3. dtma_registry_upsert skips a write that changes nothing but the times
--    the agent stamps on the row (last_seen_at, mcp_checked_at): an agent's
--    full sync after a restart costs a read per row, not a new row version.
-- 4. dtma_fleet_health: the operators' view of the fleet.
-- Idempotent, like the other migrations.

-- Toolbox rows are rewritten by every heartbeat: room on the page keeps
-- those updates HOT (no index touched, no new index entry).
alter table public.account_tool_environments set (fillfactor = 80);

-- Not unique: a duplicate would fail this migration on a live database;
-- the functions refuse a token two toolboxes share instead.
create index if not exists account_tool_environments_dtma_bearer_token_idx
  on public.account_tool_environments (dtma_bearer_token) where dtma_bearer_token is not null;
create index if not exists account_tool_instances_environment_idx
  on public.account_tool_instances (account_tool_environment_id);

-- The heartbeat body as the agent posts it (@dtma/contract HeartbeatBody,
-- validated by the heartbeat function). PT401: no toolbox (or more than one)
-- has this token; PT400: a status that is not an enum value.
-- A field of the heartbeat that gets a column is one line in the first update.
create or replace function public.dtma_heartbeat(p_token text, p_heartbeat jsonb, p_at timestamptz default now())
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  toolbox_id uuid;
begin
  if p_token is null or p_token = '' then
    raise exception 'no token' using errcode = 'PT401';
  end if;
  if jsonb_typeof(p_heartbeat) is distinct from 'object' then
    raise exception 'the heartbeat must be a JSON object' using errcode = 'PT400';
  end if;
  begin
    update public.account_tool_environments e set
      last_heartbeat_at = p_at,
      dtma_last_known_version = p_heartbeat ->> 'dtma_version',
      dtma_health_details_json = p_heartbeat -> 'system_status',
      -- The certificate the agent serves HTTPS with (20261205130000_dtma_toolbox_tls.sql), when the heartbeat has it.
      dtma_tls_certificate_pem = case when p_heartbeat ? 'tls_certificate_pem' and p_heartbeat ? 'tls_fingerprint_sha256'
        then p_heartbeat ->> 'tls_certificate_pem' else e.dtma_tls_certificate_pem end,
      dtma_tls_fingerprint_sha256 = case when p_heartbeat ? 'tls_certificate_pem' and p_heartbeat ? 'tls_fingerprint_sha256'
        then p_heartbeat ->> 'tls_fingerprint_sha256' else e.dtma_tls_fingerprint_sha256 end,
      status = case when e.status in ('provisioning', 'awaiting_heartbeat') then 'active' else e.status end
    where e.dtma_bearer_token = p_token
    returning e.id into toolbox_id;
  exception when too_many_rows then
    -- Two toolboxes with one token cannot tell which one is calling.
    raise exception 'unknown DTMA_BEARER_TOKEN' using errcode = 'PT401';
  end;
  if toolbox_id is null then
    raise exception 'unknown DTMA_BEARER_TOKEN' using errcode = 'PT401';
  end if;
  -- Only rows whose status changed; ids that cannot be rows (the column is a
  -- uuid) and other toolboxes' instances are skipped.
  update public.account_tool_instances i set
    status_on_toolbox = reported.status,
    last_heartbeat_from_dtma = p_at
  from (
    select distinct on (t.account_tool_instance_id) t.account_tool_instance_id::uuid as id,
           t.status_on_toolbox::public.account_tool_installation_status_enum as status
      from jsonb_to_recordset(coalesce(p_heartbeat -> 'tool_statuses', '[]'::jsonb))
           as t(account_tool_instance_id text, status_on_toolbox text)
     where t.account_tool_instance_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
  ) reported
  where i.id = reported.id
    and i.account_tool_environment_id = toolbox_id
    and i.status_on_toolbox is distinct from reported.status;
exception
  when invalid_text_representation or invalid_parameter_value or datatype_mismatch then
    raise exception 'the heartbeat is refused: %', sqlerrm using errcode = 'PT400';
end;
$$;

-- As in 20261205120000, but a write that changes nothing but last_seen_at
-- and mcp_checked_at is skipped (the row keeps the times of its last change).
create or replace function public.dtma_registry_upsert(p_account_tool_environment_id uuid, p_row jsonb)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  instance_id uuid;
  r public.dtma_container_registry;
begin
  if p_account_tool_environment_id is null then
    raise exception 'no toolbox' using errcode = 'PT401';
  end if;
  if jsonb_typeof(p_row) is distinct from 'object' then
    raise exception 'the row must be a JSON object' using errcode = 'PT400';
  end if;
  begin
    instance_id := (p_row ->> 'account_tool_instance_id')::uuid;
  exception when invalid_text_representation then
    raise exception 'account_tool_instance_id is not a uuid' using errcode = 'PT400';
  end;
  if instance_id is null then
    raise exception 'account_tool_instance_id is required' using errcode = 'PT400';
  end if;
  perform public.dtma_owned_instance(p_account_tool_environment_id, instance_id);
  r := jsonb_populate_record(null::public.dtma_container_registry, p_row);
  -- The toolbox is the one that called, whatever the row says.
  insert into public.dtma_container_registry as r0 (
    account_tool_instance_id, account_tool_environment_id, container_name, instance_name_on_toolbox,
    docker_image_url, container_id, dtma_status, docker_status, port_bindings, environment_variables,
    last_seen_at, mcp_status, mcp_transport, mcp_endpoint_path, mcp_server_info, mcp_tools,
    mcp_tools_fingerprint, mcp_checked_at, egress)
  values (
    instance_id, p_account_tool_environment_id, r.container_name, r.instance_name_on_toolbox,
    r.docker_image_url, r.container_id, r.dtma_status, r.docker_status, coalesce(r.port_bindings, '{}'::jsonb), r.environment_variables,
    coalesce(r.last_seen_at, now()), r.mcp_status, r.mcp_transport, r.mcp_endpoint_path, r.mcp_server_info, r.mcp_tools,
    r.mcp_tools_fingerprint, r.mcp_checked_at, r.egress)
  on conflict (account_tool_instance_id) do update set
    account_tool_environment_id = excluded.account_tool_environment_id,
    container_name = excluded.container_name,
    instance_name_on_toolbox = excluded.instance_name_on_toolbox,
    docker_image_url = excluded.docker_image_url,
    container_id = excluded.container_id,
    dtma_status = excluded.dtma_status,
    docker_status = excluded.docker_status,
    port_bindings = excluded.port_bindings,
    environment_variables = excluded.environment_variables,
    last_seen_at = excluded.last_seen_at,
    mcp_status = excluded.mcp_status,
    mcp_transport = excluded.mcp_transport,
    mcp_endpoint_path = excluded.mcp_endpoint_path,
    mcp_server_info = excluded.mcp_server_info,
    mcp_tools = excluded.mcp_tools,
    mcp_tools_fingerprint = excluded.mcp_tools_fingerprint,
    mcp_checked_at = excluded.mcp_checked_at,
    egress = excluded.egress
  -- Nothing but the agent's time stamps changed: no new row version.
  where (r0.account_tool_environment_id, r0.container_name, r0.instance_name_on_toolbox, r0.docker_image_url,
         r0.container_id, r0.dtma_status, r0.docker_status, r0.port_bindings, r0.environment_variables,
         r0.mcp_status, r0.mcp_transport, r0.mcp_endpoint_path, r0.mcp_server_info, r0.mcp_tools,
         r0.mcp_tools_fingerprint, r0.egress)
    is distinct from
        (excluded.account_tool_environment_id, excluded.container_name, excluded.instance_name_on_toolbox, excluded.docker_image_url,
         excluded.container_id, excluded.dtma_status, excluded.docker_status, excluded.port_bindings, excluded.environment_variables,
         excluded.mcp_status, excluded.mcp_transport, excluded.mcp_endpoint_path, excluded.mcp_server_info, excluded.mcp_tools,
         excluded.mcp_tools_fingerprint, excluded.egress);
exception
  -- A value the table refuses (status, env keys only, not null, bad JSON type) is the row's fault.
  when check_violation or not_null_violation or invalid_text_representation or datatype_mismatch
    or invalid_parameter_value or string_data_right_truncation or invalid_datetime_format then
    raise exception 'the row is refused: %', sqlerrm using errcode = 'PT400';
end;
$$;

-- The operators' view of the fleet, one row per (measure, key): toolboxes by
-- status, active toolboxes by the age of their last heartbeat, instances by
-- the status the agent reports and by their MCP server's status. Read with
-- the service role (or a role granted it): security_invoker, so a user sees
-- only what RLS lets them see anyway.
create or replace view public.dtma_fleet_health with (security_invoker = true) as
  select 'toolboxes_by_status'::text as measure, e.status::text as key, count(*) as count
    from public.account_tool_environments e group by e.status
  union all
  select 'active_toolboxes_by_heartbeat_age', age.bucket, count(*)
    from public.account_tool_environments e
    cross join lateral (select case
      when e.last_heartbeat_at is null then 'never'
      when e.last_heartbeat_at > now() - interval '2 minutes' then 'under 2 min'
      when e.last_heartbeat_at > now() - interval '10 minutes' then '2 to 10 min'
      when e.last_heartbeat_at > now() - interval '1 hour' then '10 to 60 min'
      else 'over 1 hour' end as bucket) age
   where e.status = 'active' group by age.bucket
  union all
  select 'instances_by_dtma_status', r.dtma_status, count(*)
    from public.dtma_container_registry r group by r.dtma_status
  union all
  select 'instances_by_mcp_status', coalesce(r.mcp_status, 'not an MCP server'), count(*)
    from public.dtma_container_registry r group by r.mcp_status;

comment on view public.dtma_fleet_health is
  'DTMA fleet health for operators: toolboxes by status and heartbeat age, instances by DTMA and MCP status';

revoke all on public.dtma_fleet_health from anon, authenticated;
grant select on public.dtma_fleet_health to service_role;

do $$
begin
  execute 'revoke all on function public.dtma_heartbeat(text, jsonb, timestamptz) from public, anon, authenticated';
  execute 'grant execute on function public.dtma_heartbeat(text, jsonb, timestamptz) to service_role';
end;
$$;
