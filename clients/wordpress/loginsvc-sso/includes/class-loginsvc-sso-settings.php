<?php
/**
 * Settings, Shop sign-in: the service URL and the shared secret.
 *
 * @package LoginSvc_SSO
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * The settings page and where the plugin reads its configuration.
 *
 * The constants LOGINSVC_SSO_URL and LOGINSVC_SSO_SECRET in wp-config.php win
 * over the page, so the secret can stay out of the database.
 */
class LoginSvc_SSO_Settings {

	const PAGE       = 'loginsvc-sso';
	const OPT_URL    = 'loginsvc_sso_service_url';
	const OPT_SECRET = 'loginsvc_sso_secret';
	const OPT_NEXT   = 'loginsvc_sso_next';
	const OPT_WC     = 'loginsvc_wc_webhook_secret';

	/**
	 * Hook the page in.
	 *
	 * @return void
	 */
	public static function register() {
		add_action( 'admin_init', array( __CLASS__, 'admin_init' ) );
		add_action( 'admin_menu', array( __CLASS__, 'admin_menu' ) );
	}

	/**
	 * The service URL, without a trailing slash ('' when not set).
	 *
	 * @return string
	 */
	public static function service_url() {
		$url = defined( 'LOGINSVC_SSO_URL' ) ? (string) LOGINSVC_SSO_URL : (string) get_option( self::OPT_URL, '' );
		return untrailingslashit( $url );
	}

	/**
	 * The shared secret ('' when not set).
	 *
	 * @return string
	 */
	public static function secret() {
		return defined( 'LOGINSVC_SSO_SECRET' ) ? (string) LOGINSVC_SSO_SECRET : (string) get_option( self::OPT_SECRET, '' );
	}

	/**
	 * Where the service sends the browser after sign-in ('' = the service's /account).
	 *
	 * @return string
	 */
	public static function next() {
		return (string) get_option( self::OPT_NEXT, '' );
	}

	/**
	 * Whether both the URL and a well-formed secret are set.
	 *
	 * @return bool
	 */
	public static function configured() {
		return '' !== self::service_url() && LoginSvc_Client::is_valid_secret( self::secret() );
	}

	/**
	 * Register the settings with their sanitisers.
	 *
	 * @return void
	 */
	public static function admin_init() {
		register_setting(
			self::PAGE,
			self::OPT_URL,
			array(
				'type'              => 'string',
				'sanitize_callback' => array( __CLASS__, 'sanitize_url' ),
				'default'           => '',
			)
		);
		register_setting(
			self::PAGE,
			self::OPT_SECRET,
			array(
				'type'              => 'string',
				'sanitize_callback' => array( __CLASS__, 'sanitize_secret' ),
				'default'           => '',
			)
		);
		register_setting(
			self::PAGE,
			self::OPT_NEXT,
			array(
				'type'              => 'string',
				'sanitize_callback' => array( __CLASS__, 'sanitize_next' ),
				'default'           => '',
			)
		);
		add_settings_section( 'loginsvc_sso_main', __( 'Connection to the shop', 'loginsvc-sso' ), '__return_false', self::PAGE );
		add_settings_field( self::OPT_URL, __( 'Service URL', 'loginsvc-sso' ), array( __CLASS__, 'field_url' ), self::PAGE, 'loginsvc_sso_main', array( 'label_for' => self::OPT_URL ) );
		add_settings_field( self::OPT_SECRET, __( 'Shared secret', 'loginsvc-sso' ), array( __CLASS__, 'field_secret' ), self::PAGE, 'loginsvc_sso_main', array( 'label_for' => self::OPT_SECRET ) );
		add_settings_field( self::OPT_NEXT, __( 'After signing in, go to', 'loginsvc-sso' ), array( __CLASS__, 'field_next' ), self::PAGE, 'loginsvc_sso_main', array( 'label_for' => self::OPT_NEXT ) );
	}

	/**
	 * Add Settings, Shop sign-in.
	 *
	 * @return void
	 */
	public static function admin_menu() {
		add_options_page( __( 'Shop sign-in', 'loginsvc-sso' ), __( 'Shop sign-in', 'loginsvc-sso' ), 'manage_options', self::PAGE, array( __CLASS__, 'render_page' ) );
	}

	/**
	 * Keep an http(s) URL without a trailing slash.
	 *
	 * @param mixed $value Submitted value.
	 * @return string
	 */
	public static function sanitize_url( $value ) {
		$value = trim( (string) $value );
		if ( '' === $value ) {
			return '';
		}
		$url = esc_url_raw( $value, array( 'http', 'https' ) );
		$host = wp_parse_url( $url, PHP_URL_HOST );
		if ( '' === $url || empty( $host ) ) {
			add_settings_error( self::OPT_URL, 'loginsvc_sso_url', __( 'The service URL must be an http:// or https:// address.', 'loginsvc-sso' ) );
			return (string) get_option( self::OPT_URL, '' );
		}
		return untrailingslashit( $url );
	}

	/**
	 * Keep a well-formed secret; an empty field keeps the saved one.
	 *
	 * @param mixed $value Submitted value.
	 * @return string
	 */
	public static function sanitize_secret( $value ) {
		$value = trim( (string) $value );
		if ( '' === $value ) {
			return (string) get_option( self::OPT_SECRET, '' );
		}
		if ( ! LoginSvc_Client::is_valid_secret( $value ) ) {
			add_settings_error( self::OPT_SECRET, 'loginsvc_sso_secret', __( 'The shared secret must look like whsec_ followed by base64 text, exactly as in WORDPRESS_SSO_SECRETS.', 'loginsvc-sso' ) );
			return (string) get_option( self::OPT_SECRET, '' );
		}
		return $value;
	}

	/**
	 * Keep a path ("/account/orders") or an absolute http(s) URL.
	 *
	 * @param mixed $value Submitted value.
	 * @return string
	 */
	public static function sanitize_next( $value ) {
		$value = trim( (string) $value );
		if ( '' === $value || ( '/' === substr( $value, 0, 1 ) && '//' !== substr( $value, 0, 2 ) ) ) {
			return sanitize_text_field( $value );
		}
		return esc_url_raw( $value, array( 'http', 'https' ) );
	}

	/**
	 * The service URL field.
	 *
	 * @return void
	 */
	public static function field_url() {
		printf(
			'<input type="url" class="regular-text code" id="%1$s" name="%1$s" value="%2$s" placeholder="https://account.shop.example" %3$s><p class="description">%4$s</p>',
			esc_attr( self::OPT_URL ),
			esc_attr( self::service_url() ),
			defined( 'LOGINSVC_SSO_URL' ) ? 'disabled' : '',
			esc_html__( 'The PUBLIC_URL of the shop\'s sign-in service.', 'loginsvc-sso' )
		);
	}

	/**
	 * The secret field: never printed back into the page.
	 *
	 * @return void
	 */
	public static function field_secret() {
		$saved = '' !== self::secret();
		printf(
			'<input type="password" class="regular-text code" id="%1$s" name="%1$s" value="" autocomplete="off" placeholder="%2$s" %3$s><p class="description">%4$s</p>',
			esc_attr( self::OPT_SECRET ),
			esc_attr( $saved ? __( '(saved; leave empty to keep it)', 'loginsvc-sso' ) : 'whsec_…' ),
			defined( 'LOGINSVC_SSO_SECRET' ) ? 'disabled' : '',
			esc_html__( 'One of the secrets in the service\'s WORDPRESS_SSO_SECRETS setting.', 'loginsvc-sso' )
		);
	}

	/**
	 * The after-sign-in field.
	 *
	 * @return void
	 */
	public static function field_next() {
		printf(
			'<input type="text" class="regular-text code" id="%1$s" name="%1$s" value="%2$s" placeholder="/account"><p class="description">%3$s</p>',
			esc_attr( self::OPT_NEXT ),
			esc_attr( self::next() ),
			esc_html__( 'Optional. A path at the shop, or a full URL of a site listed in the service\'s ALLOWED_REDIRECT_ORIGINS (for example this site, to come straight back). Anything else is ignored by the service.', 'loginsvc-sso' )
		);
	}

	/**
	 * The page.
	 *
	 * @return void
	 */
	public static function render_page() {
		if ( ! current_user_can( 'manage_options' ) ) {
			return;
		}
		echo '<div class="wrap"><h1>' . esc_html__( 'Shop sign-in', 'loginsvc-sso' ) . '</h1>';
		if ( ! self::configured() ) {
			echo '<div class="notice notice-warning inline"><p>' . esc_html__( 'Not connected yet: users are not signed in to the shop until both fields are filled in.', 'loginsvc-sso' ) . '</p></div>';
		}
		echo '<form method="post" action="options.php">';
		settings_fields( self::PAGE );
		do_settings_sections( self::PAGE );
		submit_button();
		echo '</form>';
		self::render_woocommerce();
		echo '</div>';
	}

	/**
	 * The secret for WooCommerce's order webhooks, made once for this site.
	 *
	 * @return string
	 */
	public static function woocommerce_secret() {
		$secret = (string) get_option( self::OPT_WC, '' );
		if ( '' === $secret ) {
			$secret = wp_generate_password( 40, false, false );
			add_option( self::OPT_WC, $secret, '', false );
		}
		return $secret;
	}

	/**
	 * What to paste into WooCommerce's webhook form (and into loginsvc), to send orders.
	 *
	 * @return void
	 */
	public static function render_woocommerce() {
		$base = self::service_url();
		if ( '' === $base ) {
			return;
		}
		echo '<h2>' . esc_html__( 'WooCommerce orders', 'loginsvc-sso' ) . '</h2>';
		echo '<p>' . esc_html__( 'To open customer accounts from orders: in WooCommerce → Settings → Advanced → Webhooks, add two webhooks (Topic "Order created" and "Order updated", API version "WP REST API Integration v3") with these values, and give the service the same secret in WOOCOMMERCE_WEBHOOK_SECRETS.', 'loginsvc-sso' ) . '</p>';
		echo '<table class="form-table" role="presentation"><tbody>';
		printf(
			'<tr><th scope="row">%1$s</th><td><input type="text" readonly class="large-text code" id="loginsvc-wc-url" value="%2$s" onclick="this.select()"></td></tr>',
			esc_html__( 'Delivery URL', 'loginsvc-sso' ),
			esc_attr( $base . '/api/v1/webhooks/woocommerce' )
		);
		printf(
			'<tr><th scope="row">%1$s</th><td><input type="text" readonly class="large-text code" id="loginsvc-wc-secret" value="%2$s" onclick="this.select()"></td></tr>',
			esc_html__( 'Secret', 'loginsvc-sso' ),
			esc_attr( self::woocommerce_secret() )
		);
		echo '</tbody></table>';
	}
}
