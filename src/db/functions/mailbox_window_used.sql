CREATE OR REPLACE FUNCTION public.mailbox_window_used(counts integer[], newest bigint, at bigint)
 RETURNS bigint
 LANGUAGE sql
 IMMUTABLE
AS $function$
    SELECT coalesce(sum(c), 0) FROM unnest(mailbox_window_at(counts, newest, at)) AS c
$function$
