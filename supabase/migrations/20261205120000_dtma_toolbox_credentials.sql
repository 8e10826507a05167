-- What a toolbox may do in the database, checked here and nowhere else:
-- 1. dtma_container_registry rows are written by the `registry` edge
--    function, which authenticates the toolbox by its own token and hands
--    the toolbox's id to these functions: a row is written, deleted or read
--    only when its account_tool_instance_id is an instance of that toolbox
--    (SQLSTATE PT403 otherwise, PT400 for a row that is not one). No VM holds
--    the service-role key any more.
-- 2. Single-use enrolment tokens: the backend issues one per provisioning
--    (stored as its SHA-256, never in clear), the `toolbox-enroll` function
--    redeems it once within an hour for the toolbox's per-VM token (a new
--    one each time: a re-enrolment retires the lost one).
-- The PTnnn codes are PostgREST's way to answer HTTP status nnn.
-- Only the service role (the edge functions, in the backend) may call these
-- functions. Idempotent, like the registry's migrations.

create table if not exists public.dtma_toolbox_enrolments (
  token_sha256 text primary key check (token_sha256 ~ '^[0-9a-f]{64}$'),
  account_tool_environment_id uuid not null
    references public.account_tool_environments (id) on delete cascade,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null default now() + interval '1 hour',
  used_at timestamptz
);

comment on table public.dtma_toolbox_enrolments is
  'Single-use enrolment tokens of DTMA toolboxes (SHA-256 only): dead once used_at is set or after expires_at';

alter table public.dtma_toolbox_enrolments enable row level security;
revoke all on public.dtma_toolbox_enrolments from anon, authenticated;
grant select, insert, update, delete on public.dtma_toolbox_enrolments to service_role;

-- The instance's toolbox when it is the caller's, else PT403 (an unknown
-- instance answers the same: a toolbox learns nothing of others' ids).
create or replace function public.dtma_owned_instance(p_account_tool_environment_id uuid, p_account_tool_instance_id uuid)
returns uuid
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  owner uuid;
begin
  select ati.account_tool_environment_id into owner
    from public.account_tool_instances ati where ati.id = p_account_tool_instance_id;
  if owner is null or owner <> p_account_tool_environment_id then
    raise exception 'account_tool_instance_id % is not an instance of this toolbox', p_account_tool_instance_id
      using errcode = 'PT403';
  end if;
  return owner;
end;
$$;

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
  insert into public.dtma_container_registry (
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
    egress = excluded.egress;
exception
  -- A value the table refuses (status, env keys only, not null, bad JSON type) is the row's fault.
  when check_violation or not_null_violation or invalid_text_representation or datatype_mismatch
    or invalid_parameter_value or string_data_right_truncation or invalid_datetime_format then
    raise exception 'the row is refused: %', sqlerrm using errcode = 'PT400';
end;
$$;

-- Deleting a row of an instance that no longer exists is done already (its
-- row went with it); one of another toolbox's instances is PT403.
create or replace function public.dtma_registry_delete(p_account_tool_environment_id uuid, p_account_tool_instance_id uuid)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if p_account_tool_environment_id is null then
    raise exception 'no toolbox' using errcode = 'PT401';
  end if;
  if not exists (select 1 from public.account_tool_instances where id = p_account_tool_instance_id) then
    return;
  end if;
  perform public.dtma_owned_instance(p_account_tool_environment_id, p_account_tool_instance_id);
  delete from public.dtma_container_registry where account_tool_instance_id = p_account_tool_instance_id;
end;
$$;

-- This toolbox's rows, and no other's.
create or replace function public.dtma_registry_rows(p_account_tool_environment_id uuid)
returns setof public.dtma_container_registry
language sql
stable
security definer
set search_path = ''
as $$
  select r.* from public.dtma_container_registry r
    join public.account_tool_instances ati on ati.id = r.account_tool_instance_id
   where ati.account_tool_environment_id = p_account_tool_environment_id
   order by r.account_tool_instance_id
$$;

-- The backend issues a token when it provisions (or re-enrols) a toolbox;
-- the token is answered once, only its hash is kept.
create or replace function public.dtma_issue_enrolment(p_account_tool_environment_id uuid)
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  token text := 'dtma_enrol_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
begin
  if not exists (select 1 from public.account_tool_environments where id = p_account_tool_environment_id) then
    raise exception 'unknown toolbox %', p_account_tool_environment_id using errcode = 'PT404';
  end if;
  insert into public.dtma_toolbox_enrolments (token_sha256, account_tool_environment_id)
    values (encode(sha256(convert_to(token, 'UTF8')), 'hex'), p_account_tool_environment_id);
  return token;
end;
$$;

-- Redeems an enrolment token: once, within its hour. Answers the toolbox and
-- its new per-VM token (the old one stops working). PT401 unknown, PT409
-- used already, PT410 expired.
create or replace function public.dtma_redeem_enrolment(p_token text)
returns table (account_tool_environment_id uuid, dtma_bearer_token text)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  enrolment public.dtma_toolbox_enrolments;
  fresh text := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
begin
  select * into enrolment from public.dtma_toolbox_enrolments e
   where e.token_sha256 = encode(sha256(convert_to(coalesce(p_token, ''), 'UTF8')), 'hex')
   for update;
  if not found then
    raise exception 'unknown enrolment token' using errcode = 'PT401';
  end if;
  if enrolment.used_at is not null then
    raise exception 'this enrolment token was used already (at %): ask the backend for a new one', enrolment.used_at using errcode = 'PT409';
  end if;
  if enrolment.expires_at <= now() then
    raise exception 'this enrolment token expired (at %): ask the backend for a new one', enrolment.expires_at using errcode = 'PT410';
  end if;
  update public.dtma_toolbox_enrolments e set used_at = now() where e.token_sha256 = enrolment.token_sha256;
  update public.account_tool_environments ate set dtma_bearer_token = fresh where ate.id = enrolment.account_tool_environment_id;
  return query select enrolment.account_tool_environment_id, fresh;
end;
$$;

do $$
declare
  fn text;
begin
  foreach fn in array array[
    'public.dtma_owned_instance(uuid, uuid)', 'public.dtma_registry_upsert(uuid, jsonb)', 'public.dtma_registry_delete(uuid, uuid)',
    'public.dtma_registry_rows(uuid)', 'public.dtma_issue_enrolment(uuid)', 'public.dtma_redeem_enrolment(text)'
  ] loop
    execute format('revoke all on function %s from public, anon, authenticated', fn);
    execute format('grant execute on function %s to service_role', fn);
  end loop;
end;
$$;
