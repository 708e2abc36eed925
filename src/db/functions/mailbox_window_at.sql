CREATE OR REPLACE FUNCTION public.mailbox_window_at(counts integer[], newest bigint, at bigint)
 RETURNS integer[]
 LANGUAGE sql
 IMMUTABLE
AS $function$
    SELECT CASE WHEN at <= newest THEN counts
                WHEN at - newest >= 62 THEN '{}'::integer[]
                ELSE (array_fill(0, ARRAY[(at - newest)::integer]) || counts)[1:62] END
$function$
