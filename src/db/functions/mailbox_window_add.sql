CREATE OR REPLACE FUNCTION public.mailbox_window_add(counts integer[], newest bigint, at bigint, n integer)
 RETURNS integer[]
 LANGUAGE sql
 IMMUTABLE
AS $function$
    SELECT ARRAY[coalesce(w[1], 0) + n] || coalesce(w[2:62], '{}')
      FROM (SELECT mailbox_window_at(counts, newest, at) AS w) AS shifted
$function$
