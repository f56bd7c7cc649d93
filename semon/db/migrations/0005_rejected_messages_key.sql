-- A rejected message is recorded once. What identifies it is its topic and its bytes: a broker
-- redelivery, or a device resending the same bytes on the same topic, is the same message.
-- message_key = sha256(topic as UTF-8 || 0x00 || payload); the ingester computes it over the
-- whole payload (rows recorded before this migration kept only the payload's beginning).
ALTER TABLE rejected_messages ADD COLUMN message_key bytea;
UPDATE rejected_messages SET message_key = sha256(convert_to(topic, 'UTF8') || '\x00'::bytea || payload);
DELETE FROM rejected_messages r USING rejected_messages o
WHERE r.message_key = o.message_key AND r.id > o.id;
ALTER TABLE rejected_messages ALTER COLUMN message_key SET NOT NULL;
CREATE UNIQUE INDEX rejected_messages_message_key ON rejected_messages (message_key);
