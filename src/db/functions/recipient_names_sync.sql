CREATE OR REPLACE FUNCTION public.recipient_names_sync()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public', 'pg_temp'
AS $function$
BEGIN
    DELETE FROM recipient_names WHERE recipient_id = NEW.id;
    INSERT INTO recipient_names (name, recipient_id) SELECT n, NEW.id FROM recipient_names_of(NEW) AS n;
    RETURN NULL;
END $function$
