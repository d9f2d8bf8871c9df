DROP SCHEMA atrium_session CASCADE;
