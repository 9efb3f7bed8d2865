<?php
/**
 * The WordPress side of single sign-on: login, logout, the button.
 *
 * @package LoginSvc_SSO
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Hooks into WordPress logins and logouts.
 */
class LoginSvc_SSO {

	const ACTION    = 'loginsvc_sso_sign_in';
	const ERROR_KEY = 'loginsvc_sso_error_';

	/**
	 * Hook everything in.
	 *
	 * @return void
	 */
	public static function register() {
		// Late, so other plugins' wp_login work is done before the browser leaves.
		add_action( 'wp_login', array( __CLASS__, 'on_login' ), 999, 2 );
		add_action( 'wp_logout', array( __CLASS__, 'on_logout' ), 10, 1 );
		add_action( 'admin_post_' . self::ACTION, array( __CLASS__, 'sign_in_now' ) );
		add_action( 'admin_post_nopriv_' . self::ACTION, array( __CLASS__, 'sign_in_first' ) );
		add_action( 'admin_notices', array( __CLASS__, 'show_pending_error' ) );
		add_action( 'wp_body_open', array( __CLASS__, 'show_pending_error' ) );
		add_filter( 'login_message', array( __CLASS__, 'login_message' ) );
		add_shortcode( 'loginsvc_sign_in', array( __CLASS__, 'shortcode' ) );
	}

	/**
	 * The configured client.
	 *
	 * @return LoginSvc_Client
	 */
	private static function client() {
		return new LoginSvc_Client(
			LoginSvc_SSO_Settings::service_url(),
			LoginSvc_SSO_Settings::secret(),
			array( __CLASS__, 'wp_transport' )
		);
	}

	/**
	 * POST through the WordPress HTTP API (proxies, CA bundle and filters apply).
	 *
	 * @param string $url     Full URL.
	 * @param array  $headers Headers.
	 * @param string $body    Body.
	 * @param int    $timeout Seconds.
	 * @return array{0: int, 1: string}
	 * @throws LoginSvc_Client_Exception When the service cannot be reached.
	 */
	public static function wp_transport( $url, array $headers, $body, $timeout ) {
		$response = wp_remote_post(
			$url,
			array(
				'headers'     => $headers,
				'body'        => $body,
				'timeout'     => $timeout,
				'redirection' => 0,
			)
		);
		if ( is_wp_error( $response ) ) {
			throw new LoginSvc_Client_Exception(
				__( 'The shop\'s sign-in service could not be reached. Please try again in a moment.', 'loginsvc-sso' ) . ' (' . $response->get_error_message() . ')',
				'unreachable'
			);
		}
		return array( (int) wp_remote_retrieve_response_code( $response ), (string) wp_remote_retrieve_body( $response ) );
	}

	/**
	 * Whether this login is a person in a browser (not REST, XML-RPC, cron, CLI or
	 * the re-login popup), so that sending the browser elsewhere is right.
	 *
	 * @return bool
	 */
	private static function interactive() {
		// phpcs:ignore WordPress.Security.NonceVerification.Recommended -- only reads a flag.
		$interim = isset( $_REQUEST['interim-login'] );
		return ! ( wp_doing_ajax() || wp_doing_cron() || $interim
			|| ( defined( 'REST_REQUEST' ) && REST_REQUEST )
			|| ( defined( 'XMLRPC_REQUEST' ) && XMLRPC_REQUEST )
			|| ( defined( 'WP_CLI' ) && WP_CLI ) );
	}

	/**
	 * Ask the service for a one-time ticket for a user.
	 *
	 * @param WP_User $user The user.
	 * @param string  $next Where to go at the shop ('' = the configured default).
	 * @return string The login URL.
	 * @throws LoginSvc_Client_Exception On any failure.
	 */
	private static function ticket_url( $user, $next = '' ) {
		if ( ! LoginSvc_SSO_Settings::configured() ) {
			throw new LoginSvc_Client_Exception( __( 'Signing in to the shop is not set up yet (Settings, Shop sign-in).', 'loginsvc-sso' ), 'not_configured' );
		}
		$next   = '' !== $next ? $next : LoginSvc_SSO_Settings::next();
		$ticket = self::client()->request_ticket( $user->user_email, (string) $user->ID, $user->display_name, $next );
		return $ticket['login_url'];
	}

	/**
	 * On WordPress login: send the browser through the shop's ticket URL.
	 *
	 * A failure never blocks the WordPress login: the user stays on WordPress
	 * and sees why the shop sign-in did not happen.
	 *
	 * @param string  $user_login The login name.
	 * @param WP_User $user       The user.
	 * @return void
	 */
	public static function on_login( $user_login, $user ) {
		if ( ! ( $user instanceof WP_User ) || ! LoginSvc_SSO_Settings::configured() || ! self::interactive() ) {
			return;
		}
		try {
			$url = self::ticket_url( $user );
		} catch ( LoginSvc_Client_Exception $e ) {
			set_transient( self::ERROR_KEY . $user->ID, $e->getMessage(), 10 * MINUTE_IN_SECONDS );
			return;
		}
		// The ticket URL is on another host, so wp_safe_redirect would refuse it.
		wp_redirect( $url, 302, 'loginsvc-sso' ); // phpcs:ignore WordPress.Security.SafeRedirect.wp_redirect_wp_redirect -- the configured service.
		exit;
	}

	/**
	 * On WordPress logout: end the user's sessions at the shop too.
	 *
	 * @param int $user_id The user who logged out (WordPress 5.5+).
	 * @return void
	 */
	public static function on_logout( $user_id = 0 ) {
		$user_id = (int) $user_id;
		if ( $user_id <= 0 || ! LoginSvc_SSO_Settings::configured() ) {
			return;
		}
		try {
			self::client()->logout( (string) $user_id );
		} catch ( LoginSvc_Client_Exception $e ) {
			// The user must know the shop may still have them signed in.
			add_filter(
				'logout_redirect',
				static function ( $to ) {
					return add_query_arg( 'loginsvc_sso', 'logout_failed', $to ? $to : wp_login_url() );
				},
				999
			);
		}
	}

	/**
	 * The message on wp-login.php after a failed shop logout.
	 *
	 * @param string $message Existing message HTML.
	 * @return string
	 */
	public static function login_message( $message ) {
		// phpcs:ignore WordPress.Security.NonceVerification.Recommended -- display only.
		if ( isset( $_GET['loginsvc_sso'] ) && 'logout_failed' === $_GET['loginsvc_sso'] ) {
			$message .= '<div id="login_error" class="notice notice-error"><p>' . esc_html__( 'You are logged out of this site, but the shop could not be reached to sign you out there too. Please sign out on the shop\'s "My account" page.', 'loginsvc-sso' ) . '</p></div>';
		}
		return $message;
	}

	/**
	 * Show (once) why the last sign-in to the shop failed.
	 *
	 * @return void
	 */
	public static function show_pending_error() {
		$user_id = get_current_user_id();
		if ( ! $user_id ) {
			return;
		}
		$error = get_transient( self::ERROR_KEY . $user_id );
		if ( false === $error ) {
			return;
		}
		delete_transient( self::ERROR_KEY . $user_id );
		$class = is_admin() ? 'notice notice-error' : 'loginsvc-sso-error';
		printf(
			'<div class="%1$s" role="alert"><p>%2$s %3$s</p></div>',
			esc_attr( $class ),
			esc_html__( 'You are logged in here, but signing in to the shop failed:', 'loginsvc-sso' ),
			esc_html( $error )
		);
	}

	/**
	 * The shortcode [loginsvc_sign_in label="..." next="/account"].
	 *
	 * @param array|string $atts Attributes.
	 * @return string HTML.
	 */
	public static function shortcode( $atts = array() ) {
		$atts = shortcode_atts(
			array(
				'label' => __( 'Sign in to the shop', 'loginsvc-sso' ),
				'next'  => '',
			),
			$atts,
			'loginsvc_sign_in'
		);
		if ( ! LoginSvc_SSO_Settings::configured() ) {
			return current_user_can( 'manage_options' )
				? '<p class="loginsvc-sso-error">' . esc_html__( 'Shop sign-in is not set up yet: see Settings, Shop sign-in.', 'loginsvc-sso' ) . '</p>'
				: '';
		}
		return sprintf(
			'<a class="loginsvc-sso-button wp-element-button" href="%1$s" rel="nofollow">%2$s</a>',
			esc_url( loginsvc_sso_sign_in_url( (string) $atts['next'] ) ),
			esc_html( $atts['label'] )
		);
	}

	/**
	 * The button's target for a logged-in user: a fresh ticket, then the shop.
	 *
	 * Reached by GET without a nonce on purpose: it can only sign the current
	 * WordPress user in to their own shop account and changes nothing here, so
	 * a forged link gains an attacker nothing, while theme menus can link to it.
	 *
	 * @return void
	 */
	public static function sign_in_now() {
		// phpcs:ignore WordPress.Security.NonceVerification.Recommended -- see above.
		$next = isset( $_GET['next'] ) ? LoginSvc_SSO_Settings::sanitize_next( wp_unslash( $_GET['next'] ) ) : '';
		try {
			$url = self::ticket_url( wp_get_current_user(), $next );
		} catch ( LoginSvc_Client_Exception $e ) {
			wp_die(
				'<p>' . esc_html__( 'Signing in to the shop did not work.', 'loginsvc-sso' ) . '</p><p>' . esc_html( $e->getMessage() ) . '</p>',
				esc_html__( 'Shop sign-in failed', 'loginsvc-sso' ),
				array(
					'response'  => 502,
					'back_link' => true,
				)
			);
		}
		wp_redirect( $url, 302, 'loginsvc-sso' ); // phpcs:ignore WordPress.Security.SafeRedirect.wp_redirect_wp_redirect -- the configured service.
		exit;
	}

	/**
	 * The button's target for a visitor: log in to WordPress, which signs in to the shop.
	 *
	 * @return void
	 */
	public static function sign_in_first() {
		wp_safe_redirect( wp_login_url() );
		exit;
	}
}
