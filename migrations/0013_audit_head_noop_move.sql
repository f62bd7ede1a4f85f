-- During a rolling upgrade, servers from before 0011 still move the head themselves,
-- right after their insert, onto the event this trigger has already moved it to. That update
-- changes nothing and is let through; every other move is checked as before.
create or replace function audit_chain_heads_check_move() returns trigger
  language plpgsql
  set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'INSERT' then
    if new.seq <> 0 or new.hash <> repeat('0', 64) then
      raise exception 'an audit chain starts at genesis' using errcode = 'integrity_constraint_violation';
    end if;
    return new;
  end if;
  if new.tenant_id = old.tenant_id and new.seq = old.seq and new.hash = old.hash then
    return new;
  end if;
  if new.tenant_id <> old.tenant_id or new.seq <> old.seq + 1 or not exists (
    select 1 from public.audit_events e where e.tenant_id = new.tenant_id and e.seq = new.seq and e.hash = new.hash
  ) then
    raise exception 'an audit chain head only moves onto the next appended event'
      using errcode = 'integrity_constraint_violation';
  end if;
  return new;
end $$;
