DROP SCHEMA IF EXISTS atrium_baseline;
