CREATE OR REPLACE FUNCTION public.recount_in_flight()
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
    locked text[];
    mended integer;
BEGIN
    SELECT array_agg(l.mailbox) INTO locked FROM (
        SELECT s.mailbox FROM mailbox_state s
         WHERE s.in_flight <> 0 OR s.mailbox IN (SELECT m.mailbox FROM messages m WHERE m.status = 'sending')
           FOR UPDATE SKIP LOCKED) l;
    IF locked IS NULL THEN
        RETURN 0;
    END IF;
    WITH counted AS (
        SELECT l.mailbox, coalesce(c.n, 0)::integer AS n
          FROM unnest(locked) AS l (mailbox)
          LEFT JOIN (SELECT m.mailbox, count(*) AS n FROM messages m WHERE m.status = 'sending' GROUP BY m.mailbox) c
            ON c.mailbox = l.mailbox),
    mend AS (
        UPDATE mailbox_state s SET in_flight = c.n
          FROM counted c
         WHERE s.mailbox = c.mailbox AND s.in_flight <> c.n
     RETURNING s.mailbox)
    SELECT count(*) INTO mended FROM mend;
    RETURN mended;
END $function$
