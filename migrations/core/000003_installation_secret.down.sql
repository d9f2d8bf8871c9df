ALTER TABLE atrium.installation DROP COLUMN IF EXISTS secret;
