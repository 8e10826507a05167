-- refresh-status (and toolboxes-user's refresh) in one call that writes what
-- changed, as dtma_heartbeat does for heartbeats (20261205140000):
-- dtma_refresh_toolbox writes the toolbox row (always: the time of the
-- answer, the version, the VM's numbers, the status) and each reported
-- instance's row only when a column it holds would change:
-- status_on_toolbox, instance_error_message, the mcp_* columns, and DTMA's
-- part of mcp_discovery_metadata (merged under `dtma` into what the backend
-- wrote there). Times alone do not count: the agent's checked_at, the
-- function's refreshed_at, and the ping's round trip (last_ping_ms, a
-- measure that differs at every check). A refresh whose statuses did not
-- change touches one row, not 1 + its instances; last_heartbeat_from_dtma
-- is the refresh (or heartbeat) that brought the instance's last change.
-- Idempotent, like the other migrations.

-- mcp_discovery_metadata as compared: without the times DTMA stamps in it.
create or replace function public.dtma_mcp_metadata_compared(p_metadata jsonb)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select case when jsonb_typeof(p_metadata) = 'object' and jsonb_typeof(p_metadata -> 'dtma') = 'object'
    then p_metadata #- '{dtma,checked_at}' #- '{dtma,refreshed_at}' #- '{dtma,last_ping_ms}'
    else p_metadata end
$$;

-- p_toolbox: the toolbox's columns to write, of status, last_heartbeat_at,
-- dtma_last_known_version and dtma_health_details_json (one absent is kept).
-- p_instances: one object per reported instance, its row's `id` and the
-- columns of its row to write, of status_on_toolbox, instance_error_message,
-- mcp_transport_type, mcp_endpoint_path, mcp_server_capabilities and
-- mcp_discovery_metadata (DTMA's part, `{"dtma": ...}`); one absent is kept.
-- Ids that cannot be rows and other toolboxes' instances are skipped.
-- Returns how many reported instances are rows of this toolbox (written or
-- already as reported). PT400: arguments of the wrong shape or a value the
-- table refuses.
create or replace function public.dtma_refresh_toolbox(p_toolbox_id uuid, p_toolbox jsonb, p_instances jsonb default '[]', p_at timestamptz default now())
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  mirrored integer;
begin
  if p_toolbox_id is null then
    raise exception 'no toolbox' using errcode = 'PT400';
  end if;
  if jsonb_typeof(p_toolbox) is distinct from 'object' then
    raise exception 'the toolbox columns must be a JSON object' using errcode = 'PT400';
  end if;
  if jsonb_typeof(coalesce(p_instances, '[]'::jsonb)) is distinct from 'array'
    or exists (select 1 from jsonb_array_elements(p_instances) as t(item) where jsonb_typeof(t.item) is distinct from 'object') then
    raise exception 'the instances must be a JSON array of objects' using errcode = 'PT400';
  end if;
  update public.account_tool_environments e set
    (status, last_heartbeat_at, dtma_last_known_version, dtma_health_details_json) =
    (select n.status, n.last_heartbeat_at, n.dtma_last_known_version, n.dtma_health_details_json
       from jsonb_populate_record(e, p_toolbox) n)
  where e.id = p_toolbox_id;
  with reported as (
    select distinct on (lower(t.item ->> 'id')) (t.item ->> 'id')::uuid as id, t.item - 'id' as item
      from jsonb_array_elements(coalesce(p_instances, '[]'::jsonb)) as t(item)
     where t.item ->> 'id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
  ), wanted as (
    select i.id, n.status_on_toolbox, n.instance_error_message, n.mcp_transport_type, n.mcp_endpoint_path, n.mcp_server_capabilities,
           case when r.item ? 'mcp_discovery_metadata'
             then (case when jsonb_typeof(i.mcp_discovery_metadata) = 'object' then i.mcp_discovery_metadata else '{}'::jsonb end)
                  || (r.item -> 'mcp_discovery_metadata')
             else i.mcp_discovery_metadata end as mcp_discovery_metadata
      from reported r
      join public.account_tool_instances i on i.id = r.id and i.account_tool_environment_id = p_toolbox_id
      cross join lateral jsonb_populate_record(i, r.item - 'mcp_discovery_metadata') n
  ), written as (
    update public.account_tool_instances i set
      status_on_toolbox = w.status_on_toolbox,
      instance_error_message = w.instance_error_message,
      mcp_transport_type = w.mcp_transport_type,
      mcp_endpoint_path = w.mcp_endpoint_path,
      mcp_server_capabilities = w.mcp_server_capabilities,
      mcp_discovery_metadata = w.mcp_discovery_metadata,
      last_heartbeat_from_dtma = p_at
    from wanted w
    where i.id = w.id
      -- Nothing but times changed: no new row version.
      and (i.status_on_toolbox, i.instance_error_message, i.mcp_transport_type, i.mcp_endpoint_path, i.mcp_server_capabilities,
           public.dtma_mcp_metadata_compared(i.mcp_discovery_metadata))
        is distinct from
          (w.status_on_toolbox, w.instance_error_message, w.mcp_transport_type, w.mcp_endpoint_path, w.mcp_server_capabilities,
           public.dtma_mcp_metadata_compared(w.mcp_discovery_metadata))
    returning i.id
  )
  select count(*) into mirrored from wanted;
  return mirrored;
exception
  when check_violation or not_null_violation or invalid_text_representation or datatype_mismatch
    or invalid_parameter_value or string_data_right_truncation or invalid_datetime_format then
    raise exception 'the refresh is refused: %', sqlerrm using errcode = 'PT400';
end;
$$;

do $$
begin
  execute 'revoke all on function public.dtma_mcp_metadata_compared(jsonb) from public, anon, authenticated';
  execute 'revoke all on function public.dtma_refresh_toolbox(uuid, jsonb, jsonb, timestamptz) from public, anon, authenticated';
  execute 'grant execute on function public.dtma_refresh_toolbox(uuid, jsonb, jsonb, timestamptz) to service_role';
end;
$$;
