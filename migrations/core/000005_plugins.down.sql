DROP TABLE atrium.plugins;
