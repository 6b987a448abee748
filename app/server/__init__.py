"""The application wired together (the way litestar-fullstack's `app/server` does it): what the
app holds while it runs (`resources`), its background schedules (`lifespan`), its configs
(`config`), its routes (`routes`), and the plugin that registers them all (`core`).
`app.main.create_app` builds the app from these."""
