export const TEMPLATE_DB = 'ampora_t_template';
/** The app role's password in test clusters; the server derives its own from the master key. */
export const TEST_APP_PASSWORD = 'ampora_test_app_password';
